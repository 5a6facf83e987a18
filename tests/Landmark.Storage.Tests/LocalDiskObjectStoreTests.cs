using Landmark.Storage;
using Landmark.Testing;
using Xunit;

namespace Landmark.Storage.Tests;

public sealed class LocalDiskObjectStoreTests : ObjectStoreContract, IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-store");
    private readonly LocalDiskObjectStore _store;

    public LocalDiskObjectStoreTests() => _store = new LocalDiskObjectStore(_root.Path);

    protected override IObjectStore Store => _store;

    [Fact]
    public async Task A_failed_write_keeps_the_previous_version_and_leaves_no_temporary_file()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "k", "old"u8.ToArray());
        using var wrongLength = new MemoryStream("new-but-short"u8.ToArray());
        await Assert.ThrowsAsync<InvalidDataException>(() => _store.PutAsync(Bucket, "k", wrongLength, 1000, "text/plain"));
        Assert.Equal("old"u8.ToArray(), await _store.GetBytesAsync(Bucket, "k"));
        Assert.Single(Directory.GetFiles(Path.Combine(_root.Path, Bucket)));
    }

    [Fact]
    public async Task Metadata_sidecars_do_not_appear_in_listings()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "x", new byte[] { 1 }, metadata: new Dictionary<string, string> { ["a"] = "b" });
        var keys = new List<string>();
        await foreach (var info in _store.ListAsync(Bucket))
        {
            keys.Add(info.Key);
        }
        Assert.Equal(["x"], keys);
    }

    public void Dispose() => _root.Dispose();
}
