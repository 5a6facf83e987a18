using System.Security.Cryptography;
using System.Text;
using Landmark.Storage;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary>
/// The behaviour every <see cref="IObjectStore"/> must have. One suite, run against the local-disk store
/// (<c>LocalDiskObjectStoreTests</c>, unit tests) and against a real S3 server (<c>S3ObjectStoreTests</c>, integration
/// tests; this file is linked into that project).
/// </summary>
public abstract class ObjectStoreContract
{
    protected abstract IObjectStore Store { get; }

    /// <summary>Another store instance on the same storage (another replica's view of it).</summary>
    protected abstract IObjectStore OtherReplica { get; }

    /// <summary>A bucket of its own for each test.</summary>
    protected string Bucket { get; } = "t" + Guid.NewGuid().ToString("N")[..12];

    protected async Task<IObjectStore> ReadyStore()
    {
        await Store.EnsureBucketAsync(Bucket);
        return Store;
    }

    protected async Task<List<ObjectInfo>> ListAll(string prefix = "")
    {
        var items = new List<ObjectInfo>();
        await foreach (var info in Store.ListAsync(Bucket, prefix))
        {
            items.Add(info);
        }
        return items;
    }

    [Fact]
    public async Task Put_then_get_returns_the_same_bytes()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "a/b/c.bin", "hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), await store.GetBytesAsync(Bucket, "a/b/c.bin"));
        Assert.Equal(5, (await store.StatAsync(Bucket, "a/b/c.bin"))!.Size);
    }

    [Fact]
    public async Task Empty_object_round_trips()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "empty", Array.Empty<byte>());
        Assert.Empty(await store.GetBytesAsync(Bucket, "empty"));
        Assert.Equal(0, (await store.StatAsync(Bucket, "empty"))!.Size);
    }

    [Fact]
    public async Task Put_replaces_an_existing_object_with_its_metadata()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "k", "one"u8.ToArray(), "text/plain", new Dictionary<string, string> { ["version"] = "1" });
        await store.PutBytesAsync(Bucket, "k", "second"u8.ToArray(), "application/json", new Dictionary<string, string> { ["other"] = "2" });
        Assert.Equal("second"u8.ToArray(), await store.GetBytesAsync(Bucket, "k"));
        var info = await store.StatAsync(Bucket, "k");
        Assert.Equal(6, info!.Size);
        Assert.Equal("application/json", info.ContentType);
        Assert.Equal(new Dictionary<string, string> { ["other"] = "2" }, info.Metadata);
        Assert.Single(await ListAll());
    }

    [Fact]
    public async Task Metadata_round_trips_with_lower_cased_keys()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "meta.bin", new byte[] { 1, 2 },
            metadata: new Dictionary<string, string> { ["File-Name"] = "Photo 1.JPG", ["format"] = "Jpeg", ["x-id"] = "a_b.c" });
        var info = await store.StatAsync(Bucket, "meta.bin");
        Assert.NotNull(info);
        Assert.Equal(new Dictionary<string, string> { ["file-name"] = "Photo 1.JPG", ["format"] = "Jpeg", ["x-id"] = "a_b.c" }, info.Metadata);
    }

    [Fact]
    public async Task Stat_reports_content_type_size_unquoted_etag_and_a_recent_modification_time()
    {
        var store = await ReadyStore();
        var before = DateTimeOffset.UtcNow.AddMinutes(-5);
        await store.PutBytesAsync(Bucket, "doc.json", "{}"u8.ToArray(), "application/json");
        var info = await store.StatAsync(Bucket, "doc.json");
        Assert.NotNull(info);
        Assert.Equal(Bucket, info.Bucket);
        Assert.Equal("doc.json", info.Key);
        Assert.Equal(2, info.Size);
        Assert.Equal("application/json", info.ContentType);
        Assert.False(string.IsNullOrEmpty(info.ETag));
        Assert.DoesNotContain('"', info.ETag);
        Assert.InRange(info.LastModified, before, DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Empty(info.Metadata);
    }

    [Fact]
    public async Task Missing_objects_stat_as_null_and_fail_to_open_with_object_not_found()
    {
        var store = await ReadyStore();
        Assert.Null(await store.StatAsync(Bucket, "nope"));
        Assert.Null(await store.StatAsync(Bucket, "no/such/dir/nope"));
        var error = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync(Bucket, "nope"));
        Assert.Equal("nope", error.Key);
        Assert.Equal(Bucket, error.Bucket);
        Assert.Null(await store.TryGetBytesAsync(Bucket, "nope"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetBytesAsync(Bucket, "nope"));
    }

    [Fact]
    public async Task A_key_that_only_prefixes_other_keys_reads_as_missing()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "dir/inner.bin", new byte[] { 7 });
        Assert.Null(await store.TryGetBytesAsync(Bucket, "dir"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.GetBytesAsync(Bucket, "dir"));
        Assert.Equal(new byte[] { 7 }, await store.TryGetBytesAsync(Bucket, "dir/inner.bin"));
    }

    [Fact]
    public async Task Putting_a_slice_of_a_larger_array_stores_exactly_that_slice()
    {
        var store = await ReadyStore();
        var whole = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray(); // above the large-object size
        var slice = whole.AsMemory(1_000, 200_000);
        await store.PutBytesAsync(Bucket, "slice.bin", slice);
        Assert.Equal(slice.ToArray(), await store.GetBytesAsync(Bucket, "slice.bin"));
        Assert.Equal(200_000, (await store.StatAsync(Bucket, "slice.bin"))!.Size);
    }

    [Fact]
    public async Task Objects_of_a_bucket_never_created_are_missing()
    {
        var never = "n" + Guid.NewGuid().ToString("N")[..12];
        Assert.Null(await Store.StatAsync(never, "k"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => Store.OpenReadAsync(never, "k"));
        await foreach (var _ in Store.ListAsync(never))
        {
            Assert.Fail("a missing bucket lists nothing");
        }
    }

    [Fact]
    public async Task Delete_removes_and_is_idempotent()
    {
        var store = await ReadyStore();
        await store.PutBytesAsync(Bucket, "dir/gone", new byte[] { 1 });
        await store.PutBytesAsync(Bucket, "dir/kept", new byte[] { 2 });
        await store.DeleteAsync(Bucket, "dir/gone");
        await store.DeleteAsync(Bucket, "dir/gone");
        await store.DeleteAsync(Bucket, "never/existed/at/all");
        Assert.False(await store.ExistsAsync(Bucket, "dir/gone"));
        Assert.Equal(["dir/kept"], (await ListAll()).Select(i => i.Key));
    }

    [Fact]
    public async Task List_is_recursive_filtered_by_prefix_and_in_key_order()
    {
        var store = await ReadyStore();
        foreach (var key in new[] { "p/2", "p/10", "p/1", "p/sub/deep/3", "p-other", "pa", "q/4", "P/upper" })
        {
            await store.PutBytesAsync(Bucket, key, Encoding.UTF8.GetBytes(key));
        }
        var underP = await ListAll("p/");
        Assert.Equal(["p/1", "p/10", "p/2", "p/sub/deep/3"], underP.Select(i => i.Key));
        Assert.Equal([3, 4, 3, 12], underP.Select(i => i.Size));
        Assert.All(underP, i => Assert.Equal(Bucket, i.Bucket));
        Assert.Equal(["p-other", "p/1", "p/10", "p/2", "p/sub/deep/3", "pa"], (await ListAll("p")).Select(i => i.Key));
        Assert.Equal(["p/sub/deep/3"], (await ListAll("p/sub/d")).Select(i => i.Key));
        Assert.Equal(8, (await ListAll()).Count);
        Assert.Empty(await ListAll("zzz/"));
    }

    [Fact]
    public async Task Listing_more_than_a_thousand_objects_returns_them_all_in_order()
    {
        var store = await ReadyStore();
        const int count = 1100;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, ct) => await store.PutBytesAsync(Bucket, $"many/{i:D5}", new[] { (byte)i }, cancellationToken: ct));
        var keys = (await ListAll("many/")).Select(i => i.Key).ToList();
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"many/{i:D5}"), keys);
    }

    [Fact]
    public async Task Large_object_round_trips_intact()
    {
        var store = await ReadyStore();
        var bytes = RandomNumberGenerator.GetBytes(20 * 1024 * 1024 + 123);
        await store.PutAsync(Bucket, "large.bin", new MemoryStream(bytes, writable: false), bytes.Length, "application/octet-stream");
        await using (var stream = await store.OpenReadAsync(Bucket, "large.bin"))
        {
            Assert.Equal(SHA256.HashData(bytes), await SHA256.HashDataAsync(stream));
        }
        Assert.Equal(bytes.Length, (await store.StatAsync(Bucket, "large.bin"))!.Size);
    }

    [Fact]
    public async Task Stream_of_unknown_length_is_stored_whole()
    {
        var store = await ReadyStore();
        // More than one 5 MiB part when the store uploads in parts.
        var bytes = RandomNumberGenerator.GetBytes(6 * 1024 * 1024 + 7);
        await using var stream = new NonSeekableStream(bytes);
        await store.PutAsync(Bucket, "unknown", stream, -1, "application/x-test", new Dictionary<string, string> { ["origin"] = "stream" });
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(await store.GetBytesAsync(Bucket, "unknown")));
        var info = await store.StatAsync(Bucket, "unknown");
        Assert.Equal(bytes.Length, info!.Size);
        Assert.Equal("application/x-test", info.ContentType);
        Assert.Equal("stream", info.Metadata["origin"]);
    }

    [Fact]
    public async Task Small_non_seekable_stream_of_known_length_is_stored()
    {
        var store = await ReadyStore();
        var bytes = RandomNumberGenerator.GetBytes(1000);
        await store.PutAsync(Bucket, "known", new NonSeekableStream(bytes), bytes.Length, "application/octet-stream");
        Assert.Equal(bytes, await store.GetBytesAsync(Bucket, "known"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/absolute")]
    [InlineData("a/../b")]
    [InlineData("..")]
    [InlineData("./a")]
    [InlineData("a//b")]
    [InlineData("trailing/")]
    [InlineData("back\\slash")]
    [InlineData("control\u0001char")]
    public async Task Invalid_keys_are_refused_by_every_operation(string key)
    {
        var store = await ReadyStore();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutBytesAsync(Bucket, key, new byte[] { 1 }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.OpenReadAsync(Bucket, key));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.TryGetBytesAsync(Bucket, key));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.StatAsync(Bucket, key));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.DeleteAsync(Bucket, key));
    }

    [Theory]
    [InlineData("UPPER")]
    [InlineData("under_score")]
    [InlineData("")]
    [InlineData("-dash")]
    public async Task Invalid_bucket_names_are_refused(string bucket)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.EnsureBucketAsync(bucket));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.PutBytesAsync(bucket, "k", new byte[] { 1 }));
    }

    [Fact]
    public async Task Invalid_metadata_is_refused()
    {
        var store = await ReadyStore();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutBytesAsync(Bucket, "k", new byte[] { 1 },
            metadata: new Dictionary<string, string> { ["name"] = "caf\u00e9" }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutBytesAsync(Bucket, "k", new byte[] { 1 },
            metadata: new Dictionary<string, string> { ["bad key"] = "v" }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutBytesAsync(Bucket, "k", new byte[] { 1 },
            metadata: new Dictionary<string, string> { ["under_score"] = "v" }));
        Assert.Null(await store.StatAsync(Bucket, "k"));
    }

    [Fact]
    public async Task Ensure_bucket_is_idempotent_even_when_concurrent()
    {
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Store.EnsureBucketAsync(Bucket)));
        await Store.EnsureBucketAsync(Bucket);
        await Store.PutBytesAsync(Bucket, "k", new byte[] { 1 });
        await Store.EnsureBucketAsync(Bucket);
        Assert.True(await Store.ExistsAsync(Bucket, "k"));
    }

    [Fact]
    public async Task Concurrent_writers_of_one_key_leave_one_complete_object()
    {
        var store = await ReadyStore();
        var payloads = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)(i + 1), 200_000 + i).ToArray()).ToArray();
        await Task.WhenAll(payloads.Select((p, i) => Task.Run(() => store.PutBytesAsync(Bucket, "contended", p,
            metadata: new Dictionary<string, string> { ["writer"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }))));
        var stored = await store.GetBytesAsync(Bucket, "contended");
        var winner = Array.FindIndex(payloads, p => p.AsSpan().SequenceEqual(stored));
        Assert.True(winner >= 0, "the stored bytes are exactly one writer's payload");
        var info = await store.StatAsync(Bucket, "contended");
        Assert.Equal(payloads[winner].Length, info!.Size);
        Assert.Equal(winner.ToString(System.Globalization.CultureInfo.InvariantCulture), info.Metadata["writer"]);
        Assert.Equal(["contended"], (await ListAll()).Select(i => i.Key));
    }

    [Fact]
    public async Task Create_if_absent_writes_a_new_object_once_and_then_reports_precondition_failed()
    {
        var store = await ReadyStore();
        var first = await store.PutIfAsync(Bucket, "rec.json", "{\"n\":1}"u8.ToArray(), "application/json", WriteCondition.IfAbsent);
        Assert.Equal(ConditionalPutOutcome.Written, first.Outcome);
        Assert.Equal(Md5Hex("{\"n\":1}"u8), first.ETag);

        var second = await store.PutIfAsync(Bucket, "rec.json", "{\"n\":2}"u8.ToArray(), "application/json", WriteCondition.IfAbsent);
        Assert.Equal(ConditionalPutOutcome.PreconditionFailed, second.Outcome);
        Assert.Null(second.ETag);
        Assert.Equal("{\"n\":1}"u8.ToArray(), await store.GetBytesAsync(Bucket, "rec.json"));
        Assert.Equal("application/json", (await store.StatAsync(Bucket, "rec.json"))!.ContentType);
    }

    [Fact]
    public async Task Versioned_read_returns_the_bytes_with_the_etag_of_those_bytes_and_null_for_a_missing_object()
    {
        var store = await ReadyStore();
        Assert.Null(await store.GetVersionedAsync(Bucket, "missing.json"));
        Assert.Null(await store.GetVersionedAsync("nob" + Guid.NewGuid().ToString("N")[..12], "missing.json"));
        await store.PutBytesAsync(Bucket, "plain.json", "[1,2]"u8.ToArray(), "application/json");
        var read = await store.GetVersionedAsync(Bucket, "plain.json");
        Assert.NotNull(read);
        Assert.Equal("[1,2]"u8.ToArray(), read.Content);
        Assert.Equal(Md5Hex("[1,2]"u8), read.ETag);
        Assert.Equal((await store.StatAsync(Bucket, "plain.json"))!.ETag, read.ETag);
    }

    [Fact]
    public async Task Write_if_match_replaces_the_version_read_and_refuses_a_stale_or_missing_one()
    {
        var store = await ReadyStore();
        var v1 = await store.PutIfAsync(Bucket, "r", "one"u8.ToArray(), "text/plain", WriteCondition.IfAbsent);
        var v2 = await store.PutIfAsync(Bucket, "r", "two"u8.ToArray(), "text/plain", WriteCondition.IfMatch(v1.ETag!));
        Assert.Equal(ConditionalPutOutcome.Written, v2.Outcome);
        Assert.Equal((await store.GetVersionedAsync(Bucket, "r"))!.ETag, v2.ETag);

        // Stale: written against v1 after v2 replaced it.
        Assert.Equal(ConditionalPutOutcome.PreconditionFailed,
            (await store.PutIfAsync(Bucket, "r", "three"u8.ToArray(), "text/plain", WriteCondition.IfMatch(v1.ETag!))).Outcome);
        // Quoted ETags (as HTTP headers carry them) mean the same version.
        Assert.Equal(ConditionalPutOutcome.Written,
            (await store.PutIfAsync(Bucket, "r", "four"u8.ToArray(), "text/plain", WriteCondition.IfMatch($"\"{v2.ETag}\""))).Outcome);
        // If-Match on an object that does not exist fails too.
        Assert.Equal(ConditionalPutOutcome.PreconditionFailed,
            (await store.PutIfAsync(Bucket, "absent", "x"u8.ToArray(), "text/plain", WriteCondition.IfMatch(v2.ETag!))).Outcome);
        Assert.Equal("four"u8.ToArray(), await store.GetBytesAsync(Bucket, "r"));
        Assert.False(await store.ExistsAsync(Bucket, "absent"));
    }

    [Fact]
    public async Task Of_concurrent_writers_of_one_version_on_two_replicas_exactly_one_wins_and_the_others_get_precondition_failed()
    {
        var store = await ReadyStore();
        var start = await store.PutIfAsync(Bucket, "shared.json", "start"u8.ToArray(), "application/json", WriteCondition.IfAbsent);
        var condition = WriteCondition.IfMatch(start.ETag!);
        var payloads = Enumerable.Range(0, 12).Select(i => Encoding.UTF8.GetBytes($"writer {i}")).ToArray();
        var results = await Task.WhenAll(payloads.Select((p, i) => Task.Run(() =>
            (i % 2 == 0 ? store : OtherReplica).PutIfAsync(Bucket, "shared.json", p, "application/json", condition))));

        var winners = results.Select((r, i) => (r, i)).Where(x => x.r.Written).ToList();
        var (winner, index) = Assert.Single(winners);
        Assert.All(results.Where(r => !r.Written), r => Assert.Equal(ConditionalPutOutcome.PreconditionFailed, r.Outcome));
        var stored = await OtherReplica.GetVersionedAsync(Bucket, "shared.json");
        Assert.Equal(payloads[index], stored!.Content);
        Assert.Equal(winner.ETag, stored.ETag);
    }

    [Fact]
    public async Task Of_concurrent_creators_on_two_replicas_exactly_one_wins()
    {
        var store = await ReadyStore();
        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() =>
            (i % 2 == 0 ? store : OtherReplica).PutIfAsync(Bucket, "new.json", Encoding.UTF8.GetBytes($"creator {i}"), "application/json",
                WriteCondition.IfAbsent))));
        var index = Array.FindIndex(results, r => r.Written);
        Assert.Equal(1, results.Count(r => r.Written));
        Assert.Equal(11, results.Count(r => r.Outcome == ConditionalPutOutcome.PreconditionFailed));
        Assert.Equal(Encoding.UTF8.GetBytes($"creator {index}"), await store.GetBytesAsync(Bucket, "new.json"));
    }

    [Fact]
    public async Task Concurrent_read_modify_writes_on_two_replicas_lose_no_update()
    {
        var store = await ReadyStore();
        var json = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        const int writers = 6, updatesEach = 8;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var u = 0; u < updatesEach; u++)
            {
                var result = await (w % 2 == 0 ? store : OtherReplica).UpdateJsonAsync<Dictionary<string, int>>(Bucket, "counters.json",
                    current => new Dictionary<string, int>(current ?? []) { [$"w{w}-u{u}"] = u }, json);
                Assert.True(result.Written);
            }
        })));
        var (final, _) = (await store.GetJsonAsync<Dictionary<string, int>>(Bucket, "counters.json", json))!.Value;
        Assert.Equal(writers * updatesEach, final.Count);
    }

    [Fact]
    public async Task An_update_that_changes_nothing_writes_nothing()
    {
        var store = await ReadyStore();
        var json = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        var none = await store.UpdateJsonAsync<Dictionary<string, int>>(Bucket, "c.json", _ => null, json);
        Assert.False(none.Written);
        Assert.Null(none.Value);
        Assert.False(await store.ExistsAsync(Bucket, "c.json"));
        await store.UpdateJsonAsync<Dictionary<string, int>>(Bucket, "c.json", _ => new() { ["a"] = 1 }, json);
        var before = (await store.GetVersionedAsync(Bucket, "c.json"))!.ETag;
        var same = await store.UpdateJsonAsync<Dictionary<string, int>>(Bucket, "c.json", _ => null, json);
        Assert.False(same.Written);
        Assert.Equal(1, same.Value!["a"]);
        Assert.Equal(before, (await store.GetVersionedAsync(Bucket, "c.json"))!.ETag);
    }

    private static string Md5Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));

    /// <summary>A stream that cannot seek nor tell its length, like a network body.</summary>
    protected sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes, writable: false)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }
}
