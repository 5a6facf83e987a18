using Landmark.Testing;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>What the embedded index's HNSW graph adds: recall on clustered vectors like real embeddings, a graph saved
/// with each snapshot and loaded (not rebuilt) on open, recovery when graph and snapshot disagree, filters during the walk,
/// and the automatic switch from the exact scan by collection size.</summary>
public sealed class EmbeddedHnswTests : IDisposable
{
    private const string Collection = "gallery";
    private const int Dimension = 64;
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-hnsw");

    private string CollectionDir => Path.Combine(_root.Path, Collection);

    private EmbeddedVectorIndex Open(EmbeddedSearchMode mode = EmbeddedSearchMode.Hnsw, int minimumPoints = 20_000) =>
        new(new EmbeddedIndexOptions { Path = _root.Path, Search = mode, HnswMinimumPoints = minimumPoints });

    /// <summary>Points around <paramref name="clusters"/> random centres (as embeddings of landmarks are), every tenth a distractor.</summary>
    private static List<VectorPoint> ClusteredPoints(int count, int clusters, int seed, string prefix = "p")
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, clusters).Select(_ => Gaussian(random, 1.0)).ToList();
        return Enumerable.Range(0, count).Select(i =>
        {
            var centre = centres[random.Next(clusters)];
            var noise = Gaussian(random, 0.6);
            var vector = centre.Select((c, d) => c + noise[d]).ToArray();
            return new VectorPoint($"{prefix}{i}", vector, new Dictionary<string, string>
            {
                [PayloadKeys.Role] = i % 10 == 0 ? "non_landmark" : "landmark",
                [PayloadKeys.LandmarkId] = (i % 7).ToString(),
            });
        }).ToList();
    }

    private static float[] Gaussian(Random random, double sigma) => Enumerable.Range(0, Dimension)
        .Select(_ => (float)(sigma * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))
        .ToArray();

    /// <summary>Recall@10 of the index against brute force over <paramref name="points"/> (those the filter keeps).</summary>
    private static async Task<double> RecallAsync(IVectorIndex index, IReadOnlyList<VectorPoint> points, IReadOnlyList<float[]> queries, PayloadFilter? filter = null)
    {
        var found = await index.SearchAsync(Collection, queries, 10, filter);
        var kept = points.Where(p => filter is null || filter.MustEqual.All(kv => p.Payload[kv.Key] == kv.Value)).ToList();
        var hits = 0;
        for (var q = 0; q < queries.Count; q++)
        {
            var truth = kept.OrderByDescending(p => VectorIndexContract.Cosine(p.Vector, queries[q])).Take(10).Select(p => p.Id);
            hits += found[q].Select(h => h.Id).Intersect(truth).Count();
        }
        return hits / (10.0 * queries.Count);
    }

    [Fact]
    public async Task Hnsw_recall_at_10_on_clustered_vectors_is_at_least_0_98()
    {
        var points = ClusteredPoints(8000, 80, seed: 1);
        var queries = ClusteredPoints(100, 80, seed: 1, prefix: "q").Select(p => p.Vector).ToList();
        using var index = Open();
        await index.EnsureCollectionAsync(Collection, Dimension);
        await index.UpsertAsync(Collection, points);

        var recall = await RecallAsync(index, points, queries);
        var filtered = await RecallAsync(index, points, queries, PayloadFilter.Equal(PayloadKeys.Role, "landmark"));

        Assert.True(recall >= 0.98, $"recall@10 {recall:F3}");
        Assert.True(filtered >= 0.98, $"filtered recall@10 {filtered:F3}");
    }

    [Fact]
    public async Task The_graph_is_saved_with_the_snapshot_and_loaded_on_open_with_later_log_records_replayed_into_it()
    {
        var points = ClusteredPoints(3000, 30, seed: 2);
        var queries = ClusteredPoints(20, 30, seed: 2, prefix: "q").Select(p => p.Vector).ToList();
        using (var index = Open())
        {
            await index.EnsureCollectionAsync(Collection, Dimension);
            await index.UpsertAsync(Collection, points[..2000]);
            await index.CompactAsync(Collection);
            // After the snapshot: new points, a changed vector, a deletion — all only in the log.
            await index.UpsertAsync(Collection, points[2000..]);
            await index.UpsertAsync(Collection, [points[5] with { Vector = points[6].Vector }]);
            await index.DeleteAsync(Collection, ["p7"]);
        }
        Assert.Single(Directory.GetFiles(CollectionDir, "hnsw-*.usearch"));

        using var reopened = Open();
        var collection = reopened.CollectionFor(Collection);
        Assert.Equal(GraphSource.Loaded, collection.GraphSource);
        Assert.Equal(2999, await reopened.CountAsync(Collection));
        var hits = await reopened.SearchAsync(Collection, [points[6].Vector], 3);
        Assert.Contains(hits[0], h => h.Id == "p5");
        Assert.DoesNotContain(hits.SelectMany(h => h), h => h.Id == "p7");
        var newest = await reopened.SearchAsync(Collection, [points[2999].Vector], 1);
        Assert.Equal("p2999", newest[0][0].Id);
        var current = points.Where(p => p.Id != "p7").Select(p => p.Id == "p5" ? p with { Vector = points[6].Vector } : p).ToList();
        // The graph is approximate and built by several threads, so two builds of the same points differ: 1.000 in every
        // run here, below 0.98 once in a CI run (20 queries: one query that lands badly costs 0.05). The target,
        // 0.95, still fails a graph that lost the replayed third of the points (about 0.67) or loaded a wrong one.
        var recall = await RecallAsync(reopened, current, queries);
        Assert.True(recall >= 0.95, $"recall@10 {recall:F3}");
    }

    [Fact]
    public async Task A_graph_from_another_generation_is_not_trusted_and_the_graph_is_rebuilt()
    {
        var points = ClusteredPoints(1500, 20, seed: 3);
        using (var index = Open())
        {
            await index.EnsureCollectionAsync(Collection, Dimension);
            await index.UpsertAsync(Collection, points);
            await index.CompactAsync(Collection);
        }
        // As after a crash between writing a new graph and renaming its snapshot into place: the graph and its keys
        // name a generation the snapshot does not.
        var graph = Directory.GetFiles(CollectionDir, "hnsw-*.usearch").Single();
        File.Move(graph, Path.Combine(CollectionDir, "hnsw-0123456789abcdef0123456789abcdef.usearch"));

        using var reopened = Open();
        Assert.Equal(GraphSource.Rebuilt, reopened.CollectionFor(Collection).GraphSource);
        Assert.Empty(Directory.GetFiles(CollectionDir, "hnsw-0123*"));
        var hits = await reopened.SearchAsync(Collection, [points[42].Vector], 1);
        Assert.Equal("p42", hits[0][0].Id);
    }

    [Theory]
    [InlineData(HnswQuantization.F32, HnswQuantization.I8)]
    [InlineData(HnswQuantization.I8, HnswQuantization.BF16)]
    public async Task A_graph_saved_with_another_quantization_is_rebuilt_in_the_configured_one(HnswQuantization saved, HnswQuantization configured)
    {
        var points = ClusteredPoints(1500, 20, seed: 5);
        // 100 queries: with 20, one query's unlucky walk (the graph is built by parallel inserts, so it differs from run
        // to run) could take recall below the bar on its own.
        var queries = ClusteredPoints(100, 20, seed: 5, prefix: "q").Select(p => p.Vector).ToList();
        EmbeddedVectorIndex OpenWith(HnswQuantization quantization) => new(new EmbeddedIndexOptions
        {
            Path = _root.Path,
            Search = EmbeddedSearchMode.Hnsw,
            Hnsw = new HnswOptions { Quantization = quantization },
        });
        using (var index = OpenWith(saved))
        {
            await index.EnsureCollectionAsync(Collection, Dimension);
            await index.UpsertAsync(Collection, points);
            await index.CompactAsync(Collection);
        }

        using (var reopened = OpenWith(configured))
        {
            Assert.Equal(GraphSource.Rebuilt, reopened.CollectionFor(Collection).GraphSource);
            var recall = await RecallAsync(reopened, points, queries);
            Assert.True(recall >= 0.98, $"recall@10 {recall:F3} of the graph rebuilt in {configured}");
            await reopened.CompactAsync(Collection);
        }
        using var again = OpenWith(configured);
        Assert.Equal(GraphSource.Loaded, again.CollectionFor(Collection).GraphSource);
    }

    [Fact]
    public void The_int8_graph_scales_every_vector_by_one_factor_clips_and_rounds()
    {
        // 512 dimensions: ±6/sqrt(512) = ±0.265 maps to ±127, so the factor is 478.9.
        var vector = new float[512];
        vector[0] = 0.1f;
        vector[1] = 0.3f;
        vector[2] = -0.3f;
        vector[3] = 0.001f;
        vector[4] = 0.0011f;
        var quantized = new sbyte[512];

        HnswGraph.Quantize(vector, quantized);

        Assert.Equal(new sbyte[] { 48, 127, -127, 0, 1 }, quantized[..5]);
        Assert.All(quantized[5..], q => Assert.Equal(0, q));
    }

    [Fact]
    public async Task A_selective_filter_is_answered_exactly_and_a_broad_one_through_the_graph_never_returning_rejected_points()
    {
        var points = ClusteredPoints(4000, 40, seed: 4);
        // 20 points carry a rare tag: under 5 % of the collection, so the matching points are scanned.
        for (var i = 0; i < 20; i++)
        {
            points[i * 97] = points[i * 97] with { Payload = new Dictionary<string, string> { [PayloadKeys.Role] = "rare", [PayloadKeys.LandmarkId] = "x" } };
        }
        using var index = Open();
        await index.EnsureCollectionAsync(Collection, Dimension);
        await index.UpsertAsync(Collection, points);
        var query = points[500].Vector;

        var rare = await index.SearchAsync(Collection, [query], 10, PayloadFilter.Equal(PayloadKeys.Role, "rare"));
        var broad = await index.SearchAsync(Collection, [query], 10, PayloadFilter.Equal(PayloadKeys.Role, "non_landmark"));

        var expectedRare = points.Where(p => p.Payload[PayloadKeys.Role] == "rare")
            .OrderByDescending(p => VectorIndexContract.Cosine(p.Vector, query)).Take(10).Select(p => p.Id);
        Assert.Equal(expectedRare, rare[0].Select(h => h.Id));
        Assert.Equal(10, broad[0].Count);
        Assert.All(broad[0], h => Assert.Equal("non_landmark", h.Payload[PayloadKeys.Role]));
    }

    [Fact]
    public async Task Auto_mode_scans_small_collections_exactly_and_uses_the_graph_from_the_threshold_on()
    {
        var points = ClusteredPoints(600, 10, seed: 5);
        using var index = Open(EmbeddedSearchMode.Auto, minimumPoints: 500);
        await index.EnsureCollectionAsync(Collection, Dimension);
        await index.UpsertAsync(Collection, points[..400]);
        var collection = index.CollectionFor(Collection);
        Assert.True(collection.HasGraph);
        Assert.False(collection.SearchesGraph);

        await index.UpsertAsync(Collection, points[400..]);

        Assert.True(collection.SearchesGraph);
        var hits = await index.SearchAsync(Collection, [points[450].Vector], 1);
        Assert.Equal("p450", hits[0][0].Id);
    }

    [Fact]
    public async Task Exact_mode_keeps_no_graph_files()
    {
        using var index = Open(EmbeddedSearchMode.Exact);
        await index.EnsureCollectionAsync(Collection, Dimension);
        await index.UpsertAsync(Collection, ClusteredPoints(100, 5, seed: 6));
        await index.CompactAsync(Collection);
        Assert.False(index.CollectionFor(Collection).HasGraph);
        Assert.Empty(Directory.GetFiles(CollectionDir, "hnsw*"));
    }

    public void Dispose() => _root.Dispose();
}
