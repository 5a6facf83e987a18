using Landmark.VectorIndex;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>The behaviour every <see cref="IVectorIndex"/> must have (embedded always; Qdrant when QDRANT_URL is set).</summary>
public abstract class VectorIndexContract
{
    protected abstract IVectorIndex Index { get; }

    protected string Collection { get; } = "c" + Guid.NewGuid().ToString("N")[..10];

    protected static VectorPoint Point(string id, float[] v, string role = "landmark", string landmark = "1") =>
        new(id, v, new Dictionary<string, string> { ["role"] = role, ["landmark_id"] = landmark });

    [Fact]
    public async Task Ensure_collection_is_idempotent_and_rejects_another_dimension()
    {
        await Index.EnsureCollectionAsync(Collection, 3);
        await Index.EnsureCollectionAsync(Collection, 3);
        Assert.True(await Index.CollectionExistsAsync(Collection));
        Assert.Contains(Collection, await Index.ListCollectionsAsync());
        await Assert.ThrowsAsync<ArgumentException>(() => Index.EnsureCollectionAsync(Collection, 4));
    }

    [Fact]
    public async Task Search_ranks_by_cosine_similarity_and_respects_the_limit()
    {
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.UpsertAsync(Collection, [Point("east", [1, 0]), Point("north", [0, 1]), Point("north-east", [1, 1]), Point("west", [-1, 0])]);
        var hits = (await Index.SearchAsync(Collection, [[2, 0.1f]], 3))[0];
        Assert.Equal(["east", "north-east", "north"], hits.Select(h => h.Id));
        Assert.InRange(hits[0].Score, 0.99f, 1.0001f);
        Assert.Equal("1", hits[0].Payload["landmark_id"]);
    }

    [Fact]
    public async Task Upserting_an_id_twice_keeps_one_point_with_the_new_vector()
    {
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.UpsertAsync(Collection, [Point("p", [1, 0])]);
        await Index.UpsertAsync(Collection, [Point("p", [0, 1], landmark: "2")]);
        Assert.Equal(1, await Index.CountAsync(Collection));
        var point = await Index.GetAsync(Collection, "p");
        Assert.NotNull(point);
        Assert.Equal("2", point.Payload["landmark_id"]);
        Assert.InRange(point.Vector[1], 0.99f, 1.0001f);
    }

    [Fact]
    public async Task Payload_filter_limits_search_and_count()
    {
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.UpsertAsync(Collection, [Point("a", [1, 0]), Point("b", [1, 0.1f], role: "non_landmark"), Point("c", [0, 1])]);
        var filter = PayloadFilter.Equal("role", "non_landmark");
        var hits = (await Index.SearchAsync(Collection, [[1, 0]], 5, filter))[0];
        Assert.Equal(["b"], hits.Select(h => h.Id));
        Assert.Equal(1, await Index.CountAsync(Collection, filter));
        Assert.Equal(2, await Index.CountAsync(Collection, PayloadFilter.Equal("role", "landmark")));
    }

    [Fact]
    public async Task Several_queries_get_one_result_list_each()
    {
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.UpsertAsync(Collection, [Point("x", [1, 0]), Point("y", [0, 1])]);
        var results = await Index.SearchAsync(Collection, [[1, 0], [0, 1]], 1);
        Assert.Equal("x", results[0][0].Id);
        Assert.Equal("y", results[1][0].Id);
    }

    [Fact]
    public async Task Deleted_points_are_no_longer_found()
    {
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.UpsertAsync(Collection, [Point("keep", [1, 0]), Point("drop", [0, 1]), Point("last", [1, 1])]);
        await Index.DeleteAsync(Collection, ["drop"]);
        Assert.Null(await Index.GetAsync(Collection, "drop"));
        Assert.Equal(2, await Index.CountAsync(Collection));
        Assert.DoesNotContain("drop", (await Index.SearchAsync(Collection, [[0, 1]], 5))[0].Select(h => h.Id));
        Assert.NotNull(await Index.GetAsync(Collection, "last"));
    }

    [Fact]
    public async Task Alias_moves_atomically_between_collections()
    {
        var second = Collection + "-v2";
        await Index.EnsureCollectionAsync(Collection, 2);
        await Index.EnsureCollectionAsync(second, 2);
        await Index.UpsertAsync(Collection, [Point("old", [1, 0])]);
        await Index.UpsertAsync(second, [Point("new", [1, 0])]);
        var alias = Collection + "-live";
        await Index.SetAliasAsync(alias, Collection);
        Assert.Equal(Collection, await Index.ResolveAliasAsync(alias));
        Assert.Equal("old", (await Index.SearchAsync(alias, [[1, 0]], 1))[0][0].Id);
        await Index.SetAliasAsync(alias, second);
        Assert.Equal(second, await Index.ResolveAliasAsync(alias));
        Assert.Equal("new", (await Index.SearchAsync(alias, [[1, 0]], 1))[0][0].Id);
        await Index.DeleteCollectionAsync(second);
    }

    [Fact]
    public async Task Empty_collection_answers_empty_lists()
    {
        await Index.EnsureCollectionAsync(Collection, 4);
        var results = await Index.SearchAsync(Collection, [[1, 0, 0, 0]], 3);
        Assert.Empty(Assert.Single(results));
    }

    [Fact]
    public async Task Search_over_many_random_points_matches_brute_force()
    {
        const int dimension = 64;
        var random = new Random(42);
        var points = Enumerable.Range(0, 3000).Select(i => Point($"p{i}", Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray())).ToList();
        await Index.EnsureCollectionAsync(Collection, dimension);
        await Index.UpsertAsync(Collection, points);
        var query = Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        static double Cos(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum() / Math.Sqrt(a.Sum(x => (double)x * x) * b.Sum(x => (double)x * x));
        var expected = points.OrderByDescending(p => Cos(p.Vector, query)).Take(10).Select(p => p.Id);
        var hits = (await Index.SearchAsync(Collection, [query], 10))[0];
        Assert.Equal(expected, hits.Select(h => h.Id));
    }
}
