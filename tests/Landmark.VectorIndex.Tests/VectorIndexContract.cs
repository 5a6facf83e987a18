using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// The one behavioural suite every <see cref="IVectorIndex"/> must pass. Each test is a theory over
/// <see cref="IndexUnderTest.Available"/>: it runs against the embedded index always and against a real Qdrant when
/// <c>QDRANT_URL</c> is set (no Qdrant server runs on the build machine, so that case is simply not generated there).
/// </summary>
public sealed class VectorIndexContract
{
    public static TheoryData<string> Implementations => IndexUnderTest.Available;

    private static VectorPoint Point(string id, float[] vector, string role = "landmark", string landmark = "1") =>
        new(id, vector, new Dictionary<string, string> { [PayloadKeys.Role] = role, [PayloadKeys.LandmarkId] = landmark });

    [Theory, MemberData(nameof(Implementations))]
    public async Task Ensure_collection_is_idempotent_and_the_collection_is_listed(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        Assert.False(await index.CollectionExistsAsync(name));
        await index.EnsureCollectionAsync(name, 3);
        await index.UpsertAsync(name, [Point("a", [1, 0, 0])]);
        await index.EnsureCollectionAsync(name, 3);
        Assert.True(await index.CollectionExistsAsync(name));
        Assert.Contains(name, await index.ListCollectionsAsync());
        Assert.Equal(1, await index.CountAsync(name));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Another_dimension_is_refused_with_an_argument_error(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 3);
        var ensure = await Assert.ThrowsAnyAsync<ArgumentException>(() => index.EnsureCollectionAsync(name, 4));
        Assert.Contains("3", ensure.Message);
        Assert.Contains("4", ensure.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.UpsertAsync(name, [Point("short", [1, 0])]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.SearchAsync(name, [[1, 0, 0, 0]], 1));
        Assert.Equal(0, await index.CountAsync(name));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Zero_and_non_finite_vectors_are_refused(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.UpsertAsync(name, [Point("zero", [0, 0])]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.UpsertAsync(name, [Point("nan", [float.NaN, 1])]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.SearchAsync(name, [[0, 0]], 1));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Get_returns_the_upserted_point_with_its_payload_and_unit_vector(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name, [Point("img-1", [3, 4], landmark: "eiffel")]);
        var point = await index.GetAsync(name, "img-1");
        Assert.NotNull(point);
        Assert.Equal("img-1", point.Id);
        Assert.Equal("eiffel", point.Payload[PayloadKeys.LandmarkId]);
        Assert.Equal("landmark", point.Payload[PayloadKeys.Role]);
        Assert.Equal(2, point.Payload.Count);
        Assert.Equal(0.6f, point.Vector[0], 4);
        Assert.Equal(0.8f, point.Vector[1], 4);
        Assert.Null(await index.GetAsync(name, "img-unknown"));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Upserting_an_id_twice_keeps_one_point_with_the_latest_vector_and_payload(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name, [Point("p", [1, 0]), Point("other", [1, 1])]);
        await index.UpsertAsync(name, [Point("p", [0, 1], landmark: "2")]);
        Assert.Equal(2, await index.CountAsync(name));
        var point = await index.GetAsync(name, "p");
        Assert.NotNull(point);
        Assert.Equal("2", point.Payload[PayloadKeys.LandmarkId]);
        Assert.Equal(1f, point.Vector[1], 4);
        var top = (await index.SearchAsync(name, [[0, 1]], 3))[0];
        Assert.Single(top, h => h.Id == "p");
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Search_ranks_points_by_cosine_similarity(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name, [Point("west", [-1, 0]), Point("north", [0, 5]), Point("east", [2, 0]), Point("north-east", [1, 1], landmark: "ne")]);
        var hits = (await index.SearchAsync(name, [[10, 0]], 4))[0];
        Assert.Equal(["east", "north-east", "north", "west"], hits.Select(h => h.Id));
        Assert.Equal([1f, MathF.Sqrt(0.5f), 0f, -1f], hits.Select(h => h.Score), new ToleranceComparer(1e-4f));
        Assert.Equal("ne", hits[1].Payload[PayloadKeys.LandmarkId]);
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Search_returns_at_most_limit_hits(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name, Enumerable.Range(1, 20).Select(i => Point($"p{i}", [i, 20 - i + 0.5f])).ToList());
        var hits = (await index.SearchAsync(name, [[1, 0]], 5))[0];
        Assert.Equal(["p20", "p19", "p18", "p17", "p16"], hits.Select(h => h.Id));
        var all = (await index.SearchAsync(name, [[1, 0]], 100))[0];
        Assert.Equal(20, all.Count);
        Assert.True(all.Zip(all.Skip(1)).All(pair => pair.First.Score >= pair.Second.Score), "hits are ordered by descending score");
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Payload_filter_restricts_the_search_to_matching_points(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name,
        [
            Point("a", [1, 0], landmark: "1"),
            Point("b", [1, 0.1f], role: "non_landmark", landmark: "1"),
            Point("c", [0, 1], role: "non_landmark", landmark: "2"),
            Point("d", [1, 0.2f], landmark: "2"),
        ]);
        var nonLandmarks = (await index.SearchAsync(name, [[1, 0]], 5, PayloadFilter.Equal(PayloadKeys.Role, "non_landmark")))[0];
        Assert.Equal(["b", "c"], nonLandmarks.Select(h => h.Id));
        var both = new PayloadFilter(new Dictionary<string, string> { [PayloadKeys.Role] = "landmark", [PayloadKeys.LandmarkId] = "2" });
        Assert.Equal(["d"], (await index.SearchAsync(name, [[1, 0]], 5, both))[0].Select(h => h.Id));
        Assert.Empty((await index.SearchAsync(name, [[1, 0]], 5, PayloadFilter.Equal(PayloadKeys.Role, "unknown")))[0]);
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Several_queries_get_one_ranked_list_each_in_query_order(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        const int dimension = 24;
        await index.EnsureCollectionAsync(name, dimension);
        static float[] Axis(int i)
        {
            var v = new float[dimension];
            v[i] = 1;
            return v;
        }
        await index.UpsertAsync(name, Enumerable.Range(0, dimension).Select(i => Point($"axis{i}", Axis(i))).ToList());
        // More queries than one scoring group, in reverse order, so grouping and parallelism cannot hide a mix-up.
        var queries = Enumerable.Range(0, dimension).Reverse().Select(Axis).ToList();
        var results = await index.SearchAsync(name, queries, 1);
        Assert.Equal(dimension, results.Count);
        for (var q = 0; q < dimension; q++)
        {
            Assert.Equal($"axis{dimension - 1 - q}", Assert.Single(results[q]).Id);
        }
        Assert.Empty(await index.SearchAsync(name, [], 3));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Deleted_points_are_gone_from_get_count_and_search(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name, [Point("keep", [1, 0]), Point("drop", [0, 1]), Point("last", [1, 1])]);
        await index.DeleteAsync(name, ["drop", "never-existed"]);
        Assert.Null(await index.GetAsync(name, "drop"));
        Assert.Equal(2, await index.CountAsync(name));
        Assert.Equal(["last", "keep"], (await index.SearchAsync(name, [[0, 1]], 5))[0].Select(h => h.Id));
        var last = await index.GetAsync(name, "last");
        Assert.NotNull(last);
        Assert.Equal(MathF.Sqrt(0.5f), last.Vector[0], 4);
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Count_with_a_filter_counts_only_matching_points(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 2);
        await index.UpsertAsync(name,
        [
            Point("a", [1, 0], landmark: "7"),
            Point("b", [0, 1], role: "non_landmark", landmark: ""),
            Point("c", [1, 1], landmark: "7"),
            Point("d", [1, 2], landmark: "8"),
        ]);
        Assert.Equal(4, await index.CountAsync(name));
        Assert.Equal(3, await index.CountAsync(name, PayloadFilter.Equal(PayloadKeys.Role, "landmark")));
        Assert.Equal(2, await index.CountAsync(name, PayloadFilter.Equal(PayloadKeys.LandmarkId, "7")));
        Assert.Equal(0, await index.CountAsync(name, PayloadFilter.Equal(PayloadKeys.LandmarkId, "9")));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Alias_is_created_moved_to_another_collection_and_resolved(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var (v1, v2, alias) = (under.Name("v1"), under.Name("v2"), under.Name("live"));
        await index.EnsureCollectionAsync(v1, 2);
        await index.EnsureCollectionAsync(v2, 2);
        await index.UpsertAsync(v1, [Point("old", [1, 0])]);
        await index.UpsertAsync(v2, [Point("new", [1, 0]), Point("new-2", [0, 1])]);
        Assert.Null(await index.ResolveAliasAsync(alias));

        await index.SetAliasAsync(alias, v1);
        Assert.Equal(v1, await index.ResolveAliasAsync(alias));
        Assert.True(await index.CollectionExistsAsync(alias));
        Assert.Equal("old", (await index.SearchAsync(alias, [[1, 0]], 1))[0][0].Id);

        await index.SetAliasAsync(alias, v2);
        Assert.Equal(v2, await index.ResolveAliasAsync(alias));
        Assert.Equal("new", (await index.SearchAsync(alias, [[1, 0]], 1))[0][0].Id);
        Assert.Equal(2, await index.CountAsync(alias));
        Assert.NotNull(await index.GetAsync(alias, "new-2"));
        Assert.DoesNotContain(alias, await index.ListCollectionsAsync());
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Deleted_collections_disappear_with_their_aliases(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var (keep, drop, alias) = (under.Name("keep"), under.Name("drop"), under.Name("alias"));
        await index.EnsureCollectionAsync(keep, 2);
        await index.EnsureCollectionAsync(drop, 2);
        await index.UpsertAsync(drop, [Point("x", [1, 0])]);
        await index.SetAliasAsync(alias, drop);
        var listed = (await index.ListCollectionsAsync()).Where(c => c.StartsWith(under.Prefix, StringComparison.Ordinal));
        Assert.Equal([drop, keep], listed);

        await index.DeleteCollectionAsync(drop);
        await index.DeleteCollectionAsync(drop);
        Assert.False(await index.CollectionExistsAsync(drop));
        Assert.Null(await index.ResolveAliasAsync(alias));
        Assert.Equal([keep], (await index.ListCollectionsAsync()).Where(c => c.StartsWith(under.Prefix, StringComparison.Ordinal)));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => index.SearchAsync(drop, [[1, 0]], 1));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => index.UpsertAsync(drop, [Point("y", [1, 0])]));
        await Assert.ThrowsAsync<CollectionNotFoundException>(() => index.CountAsync(drop));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Search_on_an_empty_collection_returns_an_empty_list_per_query(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        await index.EnsureCollectionAsync(name, 4);
        var results = await index.SearchAsync(name, [[1, 0, 0, 0], [0, 1, 0, 0]], 3, PayloadFilter.Equal(PayloadKeys.Role, "landmark"));
        Assert.Equal(2, results.Count);
        Assert.All(results, Assert.Empty);
        Assert.Equal(0, await index.CountAsync(name));
    }

    [Theory, MemberData(nameof(Implementations))]
    public async Task Search_over_10k_random_points_matches_a_brute_force_reference(string implementation)
    {
        await using var under = IndexUnderTest.Create(implementation);
        var index = under.Index;
        var name = under.Name();
        const int dimension = 48;
        const int limit = 10;
        var random = new Random(20240611);
        float[] RandomVector() => Enumerable.Range(0, dimension).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var points = Enumerable.Range(0, 10_000)
            .Select(i => Point($"p{i:D5}", RandomVector(), role: i % 3 == 0 ? "non_landmark" : "landmark"))
            .ToList();
        await index.EnsureCollectionAsync(name, dimension);
        await index.UpsertAsync(name, points);
        var queries = Enumerable.Range(0, 12).Select(_ => RandomVector()).ToList();

        var results = await index.SearchAsync(name, queries, limit);
        var filter = PayloadFilter.Equal(PayloadKeys.Role, "non_landmark");
        var filtered = await index.SearchAsync(name, queries.Take(2).ToList(), limit, filter);

        var expected = queries.Select(q => BruteForce(points, q, limit, _ => true)).ToList();
        var expectedFiltered = queries.Take(2).Select(q => BruteForce(points, q, limit, p => p.Payload[PayloadKeys.Role] == "non_landmark")).ToList();
        if (!under.IsApproximate)
        {
            for (var q = 0; q < queries.Count; q++)
            {
                AssertMatchesReference(expected[q], results[q]);
            }
            for (var q = 0; q < 2; q++)
            {
                AssertMatchesReference(expectedFiltered[q], filtered[q]);
            }
            return;
        }
        // An approximate index (HNSW) on uniformly random vectors, its hardest case: most true neighbours found, every
        // returned score exact, best first, and the filter never violated.
        var byId = points.ToDictionary(p => p.Id);
        var recall = AssertApproximates(expected, results, byId, queries);
        var filteredRecall = AssertApproximates(expectedFiltered, filtered, byId, queries);
        Assert.True(recall >= 0.85, $"recall@{limit} {recall:F3} < 0.85");
        Assert.True(filteredRecall >= 0.85, $"filtered recall@{limit} {filteredRecall:F3} < 0.85");
        Assert.All(filtered.SelectMany(h => h), hit => Assert.Equal("non_landmark", hit.Payload[PayloadKeys.Role]));
    }

    /// <summary>Recall of <paramref name="actual"/> against <paramref name="expected"/>; asserts each hit's score is its exact cosine, in descending order.</summary>
    private static double AssertApproximates(List<List<(string Id, double Score)>> expected, IReadOnlyList<IReadOnlyList<SearchHit>> actual,
        Dictionary<string, VectorPoint> points, List<float[]> queries)
    {
        var found = 0;
        var wanted = 0;
        for (var q = 0; q < expected.Count; q++)
        {
            Assert.Equal(expected[q].Count, actual[q].Count);
            found += actual[q].Select(h => h.Id).Intersect(expected[q].Select(e => e.Id)).Count();
            wanted += expected[q].Count;
            foreach (var hit in actual[q])
            {
                var exact = BruteForce([points[hit.Id]], queries[q], 1, _ => true)[0].Score;
                Assert.Equal(exact, hit.Score, 1e-4);
            }
            Assert.Equal(actual[q].Select(h => h.Score).OrderByDescending(s => s), actual[q].Select(h => h.Score));
        }
        return (double)found / wanted;
    }

    /// <summary>Cosine similarity in double precision: the reference the index results are checked against.</summary>
    internal static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static List<(string Id, double Score)> BruteForce(List<VectorPoint> points, float[] query, int limit, Func<VectorPoint, bool> keep)
    {
        return points.Where(keep).Select(p => (p.Id, Score: Cosine(p.Vector, query))).OrderByDescending(x => x.Score).Take(limit).ToList();
    }

    private static void AssertMatchesReference(List<(string Id, double Score)> expected, IReadOnlyList<SearchHit> actual)
    {
        Assert.Equal(expected.Select(e => e.Id), actual.Select(h => h.Id));
        Assert.Equal(expected.Select(e => (float)e.Score), actual.Select(h => h.Score), new ToleranceComparer(1e-4f));
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
