using System.Text.Json;
using Landmark.Testing;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>What only the embedded index has: persistence (write-ahead log, snapshot, aliases file), crash recovery and
/// its concurrency, in both search modes. The shared behaviour is in <see cref="VectorIndexContract"/>.</summary>
public abstract class EmbeddedVectorIndexTests : IDisposable
{
    private const string Collection = "gallery";
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-index");
    private EmbeddedVectorIndex _index;

    protected EmbeddedVectorIndexTests() => _index = Open();

    private string CollectionDir => Path.Combine(_root.Path, Collection);

    private string LogPath => Path.Combine(CollectionDir, VectorCollection.LogFile);

    private string SnapshotPath => Path.Combine(CollectionDir, VectorCollection.SnapshotFile);

    /// <summary>The search mode under test: the exact scan, or the HNSW graph for every collection size.</summary>
    protected abstract EmbeddedSearchMode Mode { get; }

    private EmbeddedVectorIndex Open(long compactionThresholdBytes = 16L * 1024 * 1024) =>
        new(new EmbeddedIndexOptions { Path = _root.Path, CompactionThresholdBytes = compactionThresholdBytes, Search = Mode });

    private void Reopen(long compactionThresholdBytes = 16L * 1024 * 1024)
    {
        _index.Dispose();
        _index = Open(compactionThresholdBytes);
    }

    private static VectorPoint Point(string id, float[] vector, string landmark = "1") =>
        new(id, vector, new Dictionary<string, string> { [PayloadKeys.LandmarkId] = landmark });

    private static List<VectorPoint> RandomPoints(int count, int dimension, int seed, string prefix = "p")
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(i => Point($"{prefix}{i}", Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), landmark: (i % 5).ToString()))
            .ToList();
    }

    private async Task<string> Snapshot(IReadOnlyList<float[]> queries)
    {
        var hits = await _index.SearchAsync(Collection, queries, 5);
        return JsonSerializer.Serialize(hits.Select(list => list.Select(h => new { h.Id, h.Score, h.Payload })));
    }

    [Fact]
    public async Task Reopening_restores_points_deletions_and_aliases_with_identical_search_results()
    {
        await _index.EnsureCollectionAsync(Collection, 8);
        await _index.EnsureCollectionAsync("other", 3);
        await _index.UpsertAsync(Collection, RandomPoints(200, 8, seed: 1));
        await _index.UpsertAsync(Collection, RandomPoints(20, 8, seed: 2));
        await _index.DeleteAsync(Collection, ["p3", "p150"]);
        await _index.SetAliasAsync("live", Collection);
        var queries = RandomPoints(4, 8, seed: 3).Select(p => p.Vector).ToList();
        var before = await Snapshot(queries);

        Reopen();

        Assert.Equal(before, await Snapshot(queries));
        Assert.Equal(198, await _index.CountAsync(Collection));
        Assert.Null(await _index.GetAsync(Collection, "p3"));
        Assert.Equal(Collection, await _index.ResolveAliasAsync("live"));
        Assert.Equal(["gallery", "other"], await _index.ListCollectionsAsync());
        Assert.Equal(0, await _index.CountAsync("other"));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _index.EnsureCollectionAsync("other", 4));
    }

    [Fact]
    public async Task A_torn_last_log_record_is_dropped_and_earlier_records_are_recovered()
    {
        await _index.EnsureCollectionAsync(Collection, 4);
        await _index.UpsertAsync(Collection, [Point("first", [1, 0, 0, 0])]);
        await _index.DeleteAsync(Collection, ["first"]);
        await _index.UpsertAsync(Collection, [Point("second", [0, 1, 0, 0]), Point("third", [0, 0, 1, 0])]);
        await _index.UpsertAsync(Collection, [Point("torn", [0, 0, 0, 1])]);
        _index.Dispose();
        var intact = new FileInfo(LogPath).Length;
        using (var file = new FileStream(LogPath, FileMode.Open))
        {
            file.SetLength(file.Length - 3);
        }

        _index = Open();

        Assert.Equal(2, await _index.CountAsync(Collection));
        Assert.Null(await _index.GetAsync(Collection, "first"));
        Assert.NotNull(await _index.GetAsync(Collection, "third"));
        Assert.Null(await _index.GetAsync(Collection, "torn"));
        Assert.True(new FileInfo(LogPath).Length < intact - 3, "the torn tail is cut off so new records follow the last good one");
        await _index.UpsertAsync(Collection, [Point("after", [1, 1, 0, 0])]);
        Reopen();
        Assert.Equal(3, await _index.CountAsync(Collection));
        Assert.NotNull(await _index.GetAsync(Collection, "after"));
    }

    [Fact]
    public async Task A_last_record_with_a_bad_checksum_is_ignored()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        await _index.UpsertAsync(Collection, [Point("good", [1, 0])]);
        await _index.UpsertAsync(Collection, [Point("flipped", [0, 1])]);
        _index.Dispose();
        var bytes = File.ReadAllBytes(LogPath);
        bytes[^2] ^= 0xFF; // inside the last record's body
        File.WriteAllBytes(LogPath, bytes);

        _index = Open();

        Assert.NotNull(await _index.GetAsync(Collection, "good"));
        Assert.Null(await _index.GetAsync(Collection, "flipped"));
    }

    [Fact]
    public async Task A_log_cut_inside_its_header_opens_as_an_empty_collection()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        _index.Dispose();
        using (var file = new FileStream(LogPath, FileMode.Open))
        {
            file.SetLength(3);
        }
        _index = Open();
        Assert.Equal(0, await _index.CountAsync(Collection));
        await _index.UpsertAsync(Collection, [Point("x", [1, 0])]);
        Reopen();
        Assert.Equal(1, await _index.CountAsync(Collection));
    }

    [Fact]
    public async Task Compaction_folds_the_log_into_a_snapshot_and_keeps_every_point()
    {
        Reopen(compactionThresholdBytes: 64 * 1024);
        const int dimension = 64;
        await _index.EnsureCollectionAsync(Collection, dimension);
        // 3 × 300 points × ~290 bytes ≈ 260 KB of log: crosses the 64 KB threshold.
        for (var batch = 0; batch < 3; batch++)
        {
            await _index.UpsertAsync(Collection, RandomPoints(300, dimension, seed: batch, prefix: $"b{batch}-"));
        }
        Assert.True(File.Exists(SnapshotPath), "the log was compacted into a snapshot");
        Assert.True(new FileInfo(LogPath).Length < 64 * 1024, "the log was emptied by the compaction");
        await _index.DeleteAsync(Collection, ["b0-1", "b2-299"]);
        await _index.UpsertAsync(Collection, [Point("b0-2", Enumerable.Repeat(1f, dimension).ToArray(), landmark: "changed")]);
        var queries = RandomPoints(3, dimension, seed: 9).Select(p => p.Vector).ToList();
        var before = await Snapshot(queries);

        Reopen(compactionThresholdBytes: 64 * 1024);

        Assert.Equal(898, await _index.CountAsync(Collection));
        Assert.Null(await _index.GetAsync(Collection, "b0-1"));
        Assert.Equal("changed", (await _index.GetAsync(Collection, "b0-2"))!.Payload[PayloadKeys.LandmarkId]);
        Assert.Equal(before, await Snapshot(queries));
    }

    [Fact]
    public async Task Explicit_compaction_then_reopen_keeps_the_same_answers()
    {
        await _index.EnsureCollectionAsync(Collection, 16);
        await _index.UpsertAsync(Collection, RandomPoints(500, 16, seed: 5));
        await _index.DeleteAsync(Collection, ["p0", "p499", "p250"]);
        var queries = RandomPoints(3, 16, seed: 6).Select(p => p.Vector).ToList();
        var before = await Snapshot(queries);

        await _index.CompactAsync(Collection);
        var logAfterCompaction = new FileInfo(LogPath).Length;
        Reopen();

        Assert.Equal(RecordFile.HeaderLength, logAfterCompaction);
        Assert.Equal(497, await _index.CountAsync(Collection));
        Assert.Equal(before, await Snapshot(queries));
    }

    [Fact]
    public async Task A_crash_after_the_snapshot_rename_but_before_the_log_reset_loses_nothing()
    {
        await _index.EnsureCollectionAsync(Collection, 4);
        await _index.UpsertAsync(Collection, [Point("a", [1, 0, 0, 0]), Point("b", [0, 1, 0, 0])]);
        await _index.DeleteAsync(Collection, ["a"]);
        await _index.UpsertAsync(Collection, [Point("a", [0, 0, 1, 0], landmark: "again")]);
        _index.Dispose();
        var log = File.ReadAllBytes(LogPath);
        _index = Open();
        await _index.CompactAsync(Collection);
        _index.Dispose();
        File.WriteAllBytes(LogPath, log); // the old log is still there, as if the process died before truncating it

        _index = Open();

        Assert.Equal(2, await _index.CountAsync(Collection));
        Assert.Equal("again", (await _index.GetAsync(Collection, "a"))!.Payload[PayloadKeys.LandmarkId]);
    }

    [Fact]
    public async Task Aliases_are_kept_in_an_atomically_written_json_file()
    {
        await _index.EnsureCollectionAsync("v1", 2);
        await _index.EnsureCollectionAsync("v2", 2);
        await _index.SetAliasAsync("live", "v1");
        await _index.SetAliasAsync("live", "v2");
        var path = Path.Combine(_root.Path, EmbeddedVectorIndex.AliasesFile);
        var aliases = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path));
        Assert.Equal(new Dictionary<string, string> { ["live"] = "v2" }, aliases);
        Assert.False(File.Exists(path + ".tmp"));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => _index.SetAliasAsync("live", "missing"));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _index.SetAliasAsync("v1", "v2"));
        Assert.Equal("v2", await _index.ResolveAliasAsync("live"));
    }

    [Fact]
    public async Task Stored_vectors_are_copies_so_callers_can_reuse_their_arrays()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        var vector = new float[] { 1, 0 };
        await _index.UpsertAsync(Collection, [Point("p", vector)]);
        vector[0] = 0;
        vector[1] = 1;
        var stored = await _index.GetAsync(Collection, "p");
        Assert.Equal([1f, 0f], stored!.Vector);
        stored.Vector[0] = 42;
        Assert.Equal(1f, (await _index.GetAsync(Collection, "p"))!.Vector[0]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("has space")]
    [InlineData("dots.are.not.allowed")]
    public async Task Unsafe_collection_names_are_refused(string name)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _index.EnsureCollectionAsync(name, 2));
        Assert.Empty(Directory.EnumerateDirectories(_root.Path));
    }

    [Fact]
    public async Task Concurrent_upserts_deletes_and_searches_stay_consistent()
    {
        const int dimension = 32;
        await _index.EnsureCollectionAsync(Collection, dimension);
        var queries = RandomPoints(16, dimension, seed: 77).Select(p => p.Vector).ToList();
        using var stop = new CancellationTokenSource();
        var searches = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var results = await _index.SearchAsync(Collection, queries, 10);
                Assert.Equal(queries.Count, results.Count);
                Assert.All(results, hits => Assert.True(hits.Count <= 10));
                Assert.All(results, hits => Assert.Equal(hits.Count, hits.Select(h => h.Id).Distinct().Count()));
                await _index.CountAsync(Collection, PayloadFilter.Equal(PayloadKeys.LandmarkId, "1"));
                Interlocked.Increment(ref searches);
                // Give the (small) thread pool back between searches, as request handlers do.
                await Task.Yield();
            }
        })).ToList();
        try
        {
            var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
            {
                for (var batch = 0; batch < 10; batch++)
                {
                    await _index.UpsertAsync(Collection, RandomPoints(200, dimension, seed: w * 100 + batch, prefix: $"w{w}-{batch}-"));
                    await _index.DeleteAsync(Collection, [$"w{w}-{batch}-0"]);
                }
            })).ToList();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));
            // At least one search must have overlapped the writes or followed them.
            while (Volatile.Read(ref searches) == 0 && readers.All(r => !r.IsCompleted))
            {
                await Task.Delay(10);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.True(searches > 0);
        Assert.Equal(2 * 10 * 199, await _index.CountAsync(Collection));
        Reopen();
        Assert.Equal(2 * 10 * 199, await _index.CountAsync(Collection));
    }

    [Fact]
    public async Task Concurrent_writers_share_one_log_flush_and_each_writers_order_survives_a_reopen()
    {
        const int writers = 6;
        await _index.EnsureCollectionAsync(Collection, 4);
        var collection = _index.CollectionFor(Collection);
        await _index.UpsertAsync(Collection, [Point("seed", [1, 0, 0, 0])]);
        var flushesBefore = collection.LogFlushes;

        // Hold the writer gate (on a thread of its own: a monitor is released by the thread that took it) while every
        // writer queues its write, so that they form one group.
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (collection.WriterGate)
            {
                held.Set();
                release.Wait();
            }
        });
        holder.Start();
        held.Wait();
        Task<Exception?>[] writes;
        try
        {
            // One thread per writer (each blocks on the gate; pool threads would only be added slowly).
            writes = Enumerable.Range(0, writers).Select(w => Task.Factory.StartNew<Exception?>(() => Record.Exception(() =>
                collection.Upsert([Point($"w{w}", [w + 1, 1, 0, 0], landmark: "group")])), TaskCreationOptions.LongRunning)).ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (collection.PendingWrites < writers && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            Assert.Equal(writers, collection.PendingWrites);
        }
        finally
        {
            release.Set();
            holder.Join();
        }
        Assert.All(await Task.WhenAll(writes), Assert.Null);
        Assert.Equal(flushesBefore + 1, collection.LogFlushes);

        // A writer's later write follows its earlier one in the log.
        await _index.UpsertAsync(Collection, [Point("w0", [0, 0, 1, 0], landmark: "later")]);
        await _index.DeleteAsync(Collection, ["seed"]);
        Reopen();
        Assert.Equal(writers, await _index.CountAsync(Collection));
        Assert.Null(await _index.GetAsync(Collection, "seed"));
        Assert.Equal("later", (await _index.GetAsync(Collection, "w0"))!.Payload[PayloadKeys.LandmarkId]);
        for (var w = 1; w < writers; w++)
        {
            var point = (await _index.GetAsync(Collection, $"w{w}"))!;
            Assert.Equal("group", point.Payload[PayloadKeys.LandmarkId]);
            Assert.Equal(Normalized([w + 1, 1, 0, 0]), point.Vector, (a, b) => Math.Abs(a - b) < 1e-6);
        }
    }

    private static float[] Normalized(float[] vector)
    {
        var norm = MathF.Sqrt(vector.Sum(v => v * v));
        return vector.Select(v => v / norm).ToArray();
    }

    [Fact]
    public async Task A_damaged_record_in_the_middle_of_the_log_loses_only_itself_and_the_log_is_kept_for_inspection()
    {
        await _index.EnsureCollectionAsync(Collection, 4);
        await _index.UpsertAsync(Collection, [Point("a", [1, 0, 0, 0])]);
        var afterA = new FileInfo(LogPath).Length;
        await _index.UpsertAsync(Collection, [Point("b", [0, 1, 0, 0])]);
        var afterB = new FileInfo(LogPath).Length;
        await _index.UpsertAsync(Collection, [Point("c", [0, 0, 1, 0])]);
        await _index.UpsertAsync(Collection, [Point("d", [0, 0, 0, 1])]);
        _index.Dispose();
        using (var log = new FileStream(LogPath, FileMode.Open, FileAccess.ReadWrite))
        {
            log.Position = (afterA + afterB) / 2; // inside b's record body
            var b = log.ReadByte();
            log.Position--;
            log.WriteByte((byte)(b ^ 0x5A));
        }

        _index = Open();

        Assert.Equal(3, await _index.CountAsync(Collection));
        Assert.NotNull(await _index.GetAsync(Collection, "a"));
        Assert.Null(await _index.GetAsync(Collection, "b"));
        Assert.NotNull(await _index.GetAsync(Collection, "c"));
        Assert.NotNull(await _index.GetAsync(Collection, "d"));
        Assert.Single(Directory.GetFiles(CollectionDir, VectorCollection.LogFile + ".corrupt-*"));
        // Writes go on after the kept records, and survive the next reopen.
        await _index.UpsertAsync(Collection, [Point("e", [1, 1, 0, 0])]);
        Reopen();
        Assert.Equal(4, await _index.CountAsync(Collection));
    }

    [Fact]
    public async Task Deleting_a_collection_removes_its_directory()
    {
        await _index.EnsureCollectionAsync(Collection, 2);
        await _index.UpsertAsync(Collection, [Point("x", [1, 0])]);
        await _index.DeleteCollectionAsync(Collection);
        Assert.False(Directory.Exists(CollectionDir));
        await _index.EnsureCollectionAsync(Collection, 3);
        Assert.Equal(0, await _index.CountAsync(Collection));
        Reopen();
        Assert.Equal(0, await _index.CountAsync(Collection));
    }

    public void Dispose()
    {
        _index.Dispose();
        _root.Dispose();
    }
}

/// <summary>The embedded index's persistence and concurrency with exact search.</summary>
public sealed class EmbeddedExactIndexTests : EmbeddedVectorIndexTests
{
    protected override EmbeddedSearchMode Mode => EmbeddedSearchMode.Exact;
}

/// <summary>The embedded index's persistence and concurrency with every search going through the HNSW graph.</summary>
public sealed class EmbeddedHnswIndexTests : EmbeddedVectorIndexTests
{
    protected override EmbeddedSearchMode Mode => EmbeddedSearchMode.Hnsw;
}
