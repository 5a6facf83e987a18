using Landmark.Testing;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary>The object-store contract on <see cref="LocalDiskObjectStore"/> keeping metadata in sidecar files (a file
/// system without extended attributes, or <see cref="LocalStorageOptions.ExtendedAttributes"/> off).</summary>
public sealed class LocalDiskObjectStoreSidecarTests : LocalDiskObjectStoreTests
{
    public LocalDiskObjectStoreSidecarTests() : base(extendedAttributes: false)
    {
    }

    [Fact]
    public async Task Metadata_is_a_sidecar_file_under_the_meta_tree()
    {
        Assert.False(LocalStore.MetadataInExtendedAttributes);
        await LocalStore.EnsureBucketAsync(Bucket);
        await LocalStore.PutBytesAsync(Bucket, "a/b.txt", "hi"u8.ToArray(), "text/plain");
        Assert.True(File.Exists(Path.Combine(RootPath, LocalDiskObjectStore.MetaDirectory, Bucket, "a", "b.txt")));
        await LocalStore.PutIfAsync(Bucket, "c.json", "{}"u8.ToArray(), "application/json", WriteCondition.IfAbsent);
        Assert.True(File.Exists(Path.Combine(RootPath, LocalDiskObjectStore.MetaDirectory, Bucket, "c.json")));
    }
}

/// <summary>The object-store contract on <see cref="LocalDiskObjectStore"/>, plus what only a file system can show.</summary>
public class LocalDiskObjectStoreTests : ObjectStoreContract, IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-store");
    private readonly LocalDiskObjectStore _store;
    private readonly bool _extendedAttributes;

    public LocalDiskObjectStoreTests() : this(extendedAttributes: true)
    {
    }

    protected LocalDiskObjectStoreTests(bool extendedAttributes)
    {
        _extendedAttributes = extendedAttributes;
        _store = new LocalDiskObjectStore(_root.Path, extendedAttributes: extendedAttributes);
    }

    protected override IObjectStore Store => _store;

    protected LocalDiskObjectStore LocalStore => _store;

    protected string RootPath => _root.Path;

    /// <summary>A second instance on the same root: its in-process locks are its own, so only the lock files keep the
    /// conditional writes of the two apart (as between two processes sharing a volume).</summary>
    protected override IObjectStore OtherReplica => _other ??= new LocalDiskObjectStore(_root.Path, extendedAttributes: _extendedAttributes);

    private LocalDiskObjectStore? _other;

    [Fact]
    public async Task Writers_racing_into_a_new_directory_all_succeed()
    {
        // The first writes into a directory create it; .NET reports the missing directory of a failed create as "file
        // not found" when a concurrent writer made the directory in between. Several rounds of eight writers released
        // together into a fresh directory each, conditional and plain writes, and the first lock files of a new bucket.
        const int writers = 8;
        for (var round = 0; round < 200; round++)
        {
            var bucket = round % 20 == 0 ? $"race{round}" : Bucket;
            if (bucket != Bucket)
            {
                await _store.EnsureBucketAsync(bucket);
            }
            using var start = new Barrier(writers);
            var prefix = $"round{round}/sub";
            var writes = Enumerable.Range(0, writers).Select(w => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                var key = $"{prefix}/k{w}";
                if (w % 2 == 0)
                {
                    var result = _store.PutIfAsync(bucket, key, new[] { (byte)w }, "application/octet-stream", WriteCondition.IfAbsent).GetAwaiter().GetResult();
                    Assert.True(result.Written);
                }
                else
                {
                    _store.PutBytesAsync(bucket, key, new[] { (byte)w }).GetAwaiter().GetResult();
                }
            }, TaskCreationOptions.LongRunning)).ToArray();
            await Task.WhenAll(writes);
            for (var w = 0; w < writers; w++)
            {
                Assert.Equal(new[] { (byte)w }, await _store.GetBytesAsync(bucket, $"{prefix}/k{w}"));
            }
        }
    }

    [Fact]
    public async Task Objects_are_plain_files_under_root_bucket_key()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "a/b.txt", "hi"u8.ToArray());
        Assert.Equal("hi"u8.ToArray(), await File.ReadAllBytesAsync(Path.Combine(_root.Path, Bucket, "a", "b.txt")));
    }

    [Fact]
    public async Task Objects_read_the_same_whichever_layout_wrote_them_and_a_rewrite_into_an_attribute_drops_the_old_sidecar()
    {
        var sidecars = new LocalDiskObjectStore(_root.Path, extendedAttributes: false);
        await sidecars.EnsureBucketAsync(Bucket);
        await sidecars.PutBytesAsync(Bucket, "old", "v1"u8.ToArray(), "image/jpeg", new Dictionary<string, string> { ["k"] = "v" });
        var sidecar = Path.Combine(_root.Path, LocalDiskObjectStore.MetaDirectory, Bucket, "old");
        Assert.True(File.Exists(sidecar));

        var info = await _store.StatAsync(Bucket, "old");
        Assert.Equal("image/jpeg", info!.ContentType);
        Assert.Equal("v", info.Metadata["k"]);

        await _store.PutBytesAsync(Bucket, "old", "v2"u8.ToArray(), "image/png");
        Assert.Equal("image/png", (await _store.StatAsync(Bucket, "old"))!.ContentType);
        Assert.Equal(!_store.MetadataInExtendedAttributes, File.Exists(sidecar));
        Assert.Equal("image/png", (await sidecars.StatAsync(Bucket, "old"))!.ContentType); // either layout reads both
    }

    [Fact]
    public async Task A_failed_write_keeps_the_previous_version_and_leaves_no_temporary_file()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "k", "old"u8.ToArray(), "text/plain");
        using var wrongLength = new MemoryStream("new-but-short"u8.ToArray());
        await Assert.ThrowsAsync<InvalidDataException>(() => _store.PutAsync(Bucket, "k", wrongLength, 1000, "application/json"));
        Assert.Equal("old"u8.ToArray(), await _store.GetBytesAsync(Bucket, "k"));
        Assert.Equal("text/plain", (await _store.StatAsync(Bucket, "k"))!.ContentType);
        Assert.Equal([Path.Combine(_root.Path, Bucket, "k")], Directory.GetFiles(Path.Combine(_root.Path, Bucket)));
    }

    [Fact]
    public async Task A_cancelled_write_keeps_the_previous_version()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "k", "old"u8.ToArray());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _store.PutAsync(Bucket, "k", new MemoryStream(new byte[100_000]), 100_000, "application/octet-stream", cancellationToken: cancelled.Token));
        Assert.Equal("old"u8.ToArray(), await _store.GetBytesAsync(Bucket, "k"));
        Assert.Single(Directory.GetFiles(Path.Combine(_root.Path, Bucket)));
    }

    [Fact]
    public async Task Temporary_and_sidecar_files_do_not_appear_in_listings()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "x", new byte[] { 1 }, metadata: new Dictionary<string, string> { ["a"] = "b" });
        // What a crashed writer leaves behind.
        await File.WriteAllBytesAsync(Path.Combine(_root.Path, Bucket, $"x.{Guid.NewGuid():N}.landmark-tmp"), new byte[] { 9 });
        Assert.Equal(["x"], (await ListAll()).Select(i => i.Key));
    }

    [Fact]
    public async Task Keys_ending_like_temporary_files_are_refused()
    {
        await _store.EnsureBucketAsync(Bucket);
        await Assert.ThrowsAsync<ArgumentException>(() =>
            _store.PutBytesAsync(Bucket, $"x.{Guid.NewGuid():N}.landmark-tmp", new byte[] { 1 }));
    }

    [Fact]
    public async Task An_open_reader_keeps_reading_the_version_it_opened_while_the_key_is_replaced_and_deleted()
    {
        await _store.EnsureBucketAsync(Bucket);
        var first = Enumerable.Repeat((byte)1, 300_000).ToArray();
        await _store.PutBytesAsync(Bucket, "k", first);
        await using var reader = await _store.OpenReadAsync(Bucket, "k");
        var head = new byte[1000];
        await reader.ReadExactlyAsync(head);
        await _store.PutBytesAsync(Bucket, "k", Enumerable.Repeat((byte)2, 10).ToArray());
        Assert.Equal(Enumerable.Repeat((byte)2, 10).ToArray(), await _store.GetBytesAsync(Bucket, "k"));
        await _store.DeleteAsync(Bucket, "k");
        using var rest = new MemoryStream();
        await reader.CopyToAsync(rest);
        Assert.Equal(first.Length - head.Length, rest.Length);
        Assert.All(rest.ToArray(), b => Assert.Equal(1, b));
    }

    [Fact]
    public async Task Readers_never_see_a_partial_object_while_writers_replace_it()
    {
        await _store.EnsureBucketAsync(Bucket);
        var versions = Enumerable.Range(1, 4).Select(v => Enumerable.Repeat((byte)v, 500_000 + v).ToArray()).ToArray();
        await _store.PutBytesAsync(Bucket, "hot", versions[0]);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writers = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await _store.PutBytesAsync(Bucket, "hot", versions[i % versions.Length]);
            }
        });
        var reads = 0;
        while (!stop.IsCancellationRequested)
        {
            var bytes = await _store.GetBytesAsync(Bucket, "hot");
            Assert.Contains(versions, v => v.AsSpan().SequenceEqual(bytes));
            reads++;
        }
        await writers;
        Assert.True(reads > 0);
    }

    [Fact]
    public async Task A_key_that_is_also_a_directory_of_other_keys_fails_with_a_clear_message()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "a/b", new byte[] { 1 });
        var asFile = await Assert.ThrowsAsync<IOException>(() => _store.PutBytesAsync(Bucket, "a", new byte[] { 2 }));
        Assert.Contains("'a' and 'a/b'", asFile.Message, StringComparison.Ordinal);
        await _store.PutBytesAsync(Bucket, "f", new byte[] { 3 });
        var asDirectory = await Assert.ThrowsAsync<IOException>(() => _store.PutBytesAsync(Bucket, "f/g", new byte[] { 4 }));
        Assert.Contains("'a' and 'a/b'", asDirectory.Message, StringComparison.Ordinal);
        Assert.Null(await _store.StatAsync(Bucket, "a"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => _store.OpenReadAsync(Bucket, "a"));
        Assert.Equal(["a/b", "f"], (await ListAll()).Select(i => i.Key));
    }

    [Fact]
    public async Task Relative_roots_resolve_against_the_working_directory_and_objects_survive_a_new_instance()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "k", "persisted"u8.ToArray(), "text/plain", new Dictionary<string, string> { ["m"] = "v" });
        var reopened = new LocalDiskObjectStore(Path.GetRelativePath(Environment.CurrentDirectory, _root.Path));
        Assert.Equal(_root.Path, reopened.Root);
        var info = await reopened.StatAsync(Bucket, "k");
        Assert.Equal("text/plain", info!.ContentType);
        Assert.Equal("v", info.Metadata["m"]);
    }

    public void Dispose() => _root.Dispose();
}

/// <summary>Where <see cref="LocalDiskObjectStore"/> keeps metadata on a file system with extended attributes.</summary>
public sealed class LocalDiskObjectStoreAttributeTests : IDisposable
{
    private const string Bucket = "attributes";
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-store-xattr");

    [Fact]
    public async Task On_a_file_system_with_extended_attributes_metadata_travels_in_the_file_and_no_sidecar_is_written()
    {
        var store = new LocalDiskObjectStore(_root.Path);
        // The repository's temporary directories are on ext4 or tmpfs here and in CI: both have user attributes.
        Assert.True(store.MetadataInExtendedAttributes, $"no extended attributes under {_root.Path}");
        await store.EnsureBucketAsync(Bucket);
        await store.PutBytesAsync(Bucket, "a/b.txt", "hi"u8.ToArray(), "text/plain", new Dictionary<string, string> { ["origin"] = "test" });
        await store.PutIfAsync(Bucket, "c.json", "{}"u8.ToArray(), "application/json", WriteCondition.IfAbsent);
        Assert.False(Directory.Exists(Path.Combine(_root.Path, LocalDiskObjectStore.MetaDirectory)));
        var info = await new LocalDiskObjectStore(_root.Path).StatAsync(Bucket, "a/b.txt");
        Assert.Equal("text/plain", info!.ContentType);
        Assert.Equal("test", info.Metadata["origin"]);
        Assert.Equal("application/json", (await store.StatAsync(Bucket, "c.json"))!.ContentType);
    }

    public void Dispose() => _root.Dispose();
}
