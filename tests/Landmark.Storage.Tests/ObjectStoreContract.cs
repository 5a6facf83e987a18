using System.Security.Cryptography;
using System.Text;
using Landmark.Storage;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary>The behaviour every <see cref="IObjectStore"/> must have. Run against the local-disk store (unit tests)
/// and against a real S3 server (integration tests).</summary>
public abstract class ObjectStoreContract
{
    protected abstract IObjectStore Store { get; }

    /// <summary>A bucket of its own for each test.</summary>
    protected string Bucket { get; } = "t" + Guid.NewGuid().ToString("N")[..12];

    private async Task<IObjectStore> Ready()
    {
        await Store.EnsureBucketAsync(Bucket);
        return Store;
    }

    [Fact]
    public async Task Put_then_get_returns_the_same_bytes()
    {
        var store = await Ready();
        await store.PutBytesAsync(Bucket, "a/b/c.bin", "hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), await store.GetBytesAsync(Bucket, "a/b/c.bin"));
    }

    [Fact]
    public async Task Put_replaces_an_existing_object()
    {
        var store = await Ready();
        await store.PutBytesAsync(Bucket, "k", "one"u8.ToArray());
        await store.PutBytesAsync(Bucket, "k", "second"u8.ToArray());
        Assert.Equal("second"u8.ToArray(), await store.GetBytesAsync(Bucket, "k"));
    }

    [Fact]
    public async Task Stat_returns_size_content_type_and_lower_cased_metadata()
    {
        var store = await Ready();
        await store.PutBytesAsync(Bucket, "meta.json", "{}"u8.ToArray(), "application/json",
            new Dictionary<string, string> { ["File-Name"] = "photo.jpg", ["format"] = "Jpeg" });
        var info = await store.StatAsync(Bucket, "meta.json");
        Assert.NotNull(info);
        Assert.Equal(2, info.Size);
        Assert.Equal("application/json", info.ContentType);
        Assert.Equal("photo.jpg", info.Metadata["file-name"]);
        Assert.Equal("Jpeg", info.Metadata["format"]);
        Assert.False(string.IsNullOrEmpty(info.ETag));
        Assert.DoesNotContain('"', info.ETag!);
    }

    [Fact]
    public async Task Missing_objects_stat_as_null_and_fail_to_open_with_object_not_found()
    {
        var store = await Ready();
        Assert.Null(await store.StatAsync(Bucket, "nope"));
        var error = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync(Bucket, "nope"));
        Assert.Equal("nope", error.Key);
        Assert.Null(await store.TryGetBytesAsync(Bucket, "nope"));
    }

    [Fact]
    public async Task Delete_removes_and_is_idempotent()
    {
        var store = await Ready();
        await store.PutBytesAsync(Bucket, "gone", new byte[] { 1 });
        await store.DeleteAsync(Bucket, "gone");
        await store.DeleteAsync(Bucket, "gone");
        Assert.False(await store.ExistsAsync(Bucket, "gone"));
    }

    [Fact]
    public async Task List_is_recursive_filtered_by_prefix_and_in_key_order()
    {
        var store = await Ready();
        foreach (var key in new[] { "p/2", "p/1", "p/sub/3", "q/4" })
        {
            await store.PutBytesAsync(Bucket, key, Encoding.UTF8.GetBytes(key));
        }
        var keys = new List<string>();
        await foreach (var info in store.ListAsync(Bucket, "p/"))
        {
            keys.Add(info.Key);
        }
        Assert.Equal(["p/1", "p/2", "p/sub/3"], keys);
    }

    [Fact]
    public async Task Listing_more_than_a_thousand_objects_returns_them_all()
    {
        var store = await Ready();
        await Parallel.ForAsync(0, 1100, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, ct) => await store.PutBytesAsync(Bucket, $"many/{i:D5}", new[] { (byte)i }, cancellationToken: ct));
        var count = 0;
        await foreach (var _ in store.ListAsync(Bucket, "many/"))
        {
            count++;
        }
        Assert.Equal(1100, count);
    }

    [Fact]
    public async Task Large_object_round_trips_intact()
    {
        var store = await Ready();
        var bytes = RandomNumberGenerator.GetBytes(20 * 1024 * 1024);
        await store.PutBytesAsync(Bucket, "large.bin", bytes);
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(await store.GetBytesAsync(Bucket, "large.bin")));
        Assert.Equal(bytes.Length, (await store.StatAsync(Bucket, "large.bin"))!.Size);
    }

    [Fact]
    public async Task Stream_of_unknown_length_is_stored_whole()
    {
        var store = await Ready();
        var bytes = RandomNumberGenerator.GetBytes(300_000);
        await using var stream = new NonSeekableStream(bytes);
        await store.PutAsync(Bucket, "unknown", stream, -1, "application/octet-stream");
        Assert.Equal(bytes, await store.GetBytesAsync(Bucket, "unknown"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/absolute")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("back\\slash")]
    public async Task Invalid_keys_are_refused(string key)
    {
        var store = await Ready();
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutBytesAsync(Bucket, key, new byte[] { 1 }));
    }

    [Fact]
    public async Task Concurrent_writers_of_one_key_leave_one_complete_object()
    {
        var store = await Ready();
        var payloads = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, 200_000).ToArray()).ToArray();
        await Task.WhenAll(payloads.Select(p => store.PutBytesAsync(Bucket, "contended", p)));
        var stored = await store.GetBytesAsync(Bucket, "contended");
        Assert.Contains(payloads, p => p.AsSpan().SequenceEqual(stored));
    }

    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }
}
