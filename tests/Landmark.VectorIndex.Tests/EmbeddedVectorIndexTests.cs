using Landmark.Testing;
using Landmark.VectorIndex;
using Xunit;

namespace Landmark.VectorIndex.Tests;

public sealed class EmbeddedVectorIndexTests : VectorIndexContract, IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-index");
    private EmbeddedVectorIndex _index;

    public EmbeddedVectorIndexTests() => _index = new EmbeddedVectorIndex(_root.Path);

    protected override IVectorIndex Index => _index;

    private void Reopen()
    {
        _index.Dispose();
        _index = new EmbeddedVectorIndex(_root.Path);
    }

    [Fact]
    public async Task Reopening_restores_points_deletions_and_aliases()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        await _index.UpsertAsync(Collection, [Point("a", [1, 0]), Point("b", [0, 1]), Point("c", [1, 1])]);
        await _index.DeleteAsync(Collection, ["b"]);
        await _index.SetAliasAsync("live", Collection);
        Reopen();
        Assert.Equal(2, await _index.CountAsync(Collection));
        Assert.Null(await _index.GetAsync(Collection, "b"));
        Assert.Equal(Collection, await _index.ResolveAliasAsync("live"));
        Assert.Equal("a", (await _index.SearchAsync("live", [[1, 0]], 1))[0][0].Id);
    }

    [Fact]
    public async Task A_torn_last_log_record_loses_only_that_record()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        await _index.UpsertAsync(Collection, [Point("first", [1, 0])]);
        await _index.UpsertAsync(Collection, [Point("second", [0, 1])]);
        _index.Dispose();
        var log = Path.Combine(_root.Path, Collection, "wal.bin");
        using (var file = new FileStream(log, FileMode.Open))
        {
            file.SetLength(file.Length - 5);
        }
        _index = new EmbeddedVectorIndex(_root.Path);
        Assert.NotNull(await _index.GetAsync(Collection, "first"));
        Assert.Null(await _index.GetAsync(Collection, "second"));
        // The log is usable again after the repair.
        await _index.UpsertAsync(Collection, [Point("third", [1, 1])]);
        Reopen();
        Assert.Equal(2, await _index.CountAsync(Collection));
    }

    [Fact]
    public async Task Compaction_into_a_snapshot_keeps_every_point()
    {
        const int dimension = 512;
        await _index.EnsureCollectionAsync(Collection, dimension);
        var random = new Random(7);
        // ~6 MB of log: crosses the 4 MB compaction threshold.
        for (var batch = 0; batch < 3; batch++)
        {
            var points = Enumerable.Range(0, 1000).Select(i => Point($"b{batch}-{i}", Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() + 0.01f).ToArray())).ToList();
            await _index.UpsertAsync(Collection, points);
        }
        Assert.True(File.Exists(Path.Combine(_root.Path, Collection, "snapshot.bin")));
        Reopen();
        Assert.Equal(3000, await _index.CountAsync(Collection));
        Assert.NotNull(await _index.GetAsync(Collection, "b0-17"));
    }

    [Fact]
    public async Task Vectors_of_the_wrong_dimension_are_refused()
    {
        await _index.EnsureCollectionAsync(Collection, 3);
        await Assert.ThrowsAsync<ArgumentException>(() => _index.UpsertAsync(Collection, [Point("bad", [1, 0])]));
        await Assert.ThrowsAsync<ArgumentException>(() => _index.SearchAsync(Collection, [[1, 0]], 1));
        await Assert.ThrowsAsync<ArgumentException>(() => _index.UpsertAsync(Collection, [Point("zero", [0, 0, 0])]));
    }

    public void Dispose()
    {
        _index.Dispose();
        _root.Dispose();
    }
}
