using Grpc.Core;
using Microsoft.Extensions.Options;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using Qdrant.Client;
using Qdrant.Client.Grpc;
using Xunit;
using static Qdrant.Client.Grpc.Conditions;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// The Qdrant adapter's calls to the official client, checked without a server: an NSubstitute <see cref="IQdrantClient"/>
/// records the calls (their protobuf requests compare by value) and answers in the shapes Qdrant's gRPC API uses. The
/// behaviour against a real server is covered by <see cref="VectorIndexContract"/> when <c>QDRANT_URL</c> is set.
/// </summary>
public sealed class QdrantVectorIndexTests
{
    private readonly IQdrantClient _client = Substitute.For<IQdrantClient>();

    private QdrantVectorIndex Create(Action<QdrantOptions>? configure = null)
    {
        var options = new QdrantOptions { Url = "http://qdrant.test:6334", SearchEf = 77, HnswM = 24, HnswEfConstruct = 200 };
        configure?.Invoke(options);
        return new QdrantVectorIndex(_client, Options.Create(new VectorIndexOptions { Provider = VectorIndexProvider.Qdrant, Qdrant = options }));
    }

    private static VectorPoint Point(string id, float[] vector, string landmark = "1") =>
        new(id, vector, new Dictionary<string, string> { [PayloadKeys.LandmarkId] = landmark });

    private static RpcException Rpc(StatusCode code, string detail) => new(new Status(code, detail));

    private static CollectionInfo Info(ulong dimension) => new()
    {
        Status = CollectionStatus.Green,
        PointsCount = 12,
        Config = new CollectionConfig
        {
            Params = new CollectionParams { VectorsConfig = new VectorsConfig { Params = new VectorParams { Size = dimension, Distance = Distance.Cosine } } },
        },
    };

    /// <summary>The arguments of every received call to <paramref name="method"/>, in order.</summary>
    private List<object?[]> Calls(string method) =>
        _client.ReceivedCalls().Where(c => c.GetMethodInfo().Name == method).Select(c => c.GetArguments()).ToList();

    private static ScoredPoint Hit(string id, float score, string landmark)
    {
        var hit = new ScoredPoint { Id = QdrantVectorIndex.PointId(id), Score = score, Version = 1 };
        hit.Payload[QdrantVectorIndex.IdKey] = id;
        hit.Payload[PayloadKeys.LandmarkId] = landmark;
        hit.Payload[PayloadKeys.Role] = "landmark";
        return hit;
    }

    [Fact]
    public void String_ids_map_to_stable_rfc_4122_uuids()
    {
        // Pinned values: first 16 bytes of SHA-256("abc") / SHA-256("img-0001") with version 5 and the RFC 4122 variant.
        Assert.Equal(Guid.Parse("ba7816bf-8f01-5fea-8141-40de5dae2223"), QdrantVectorIndex.PointId("abc"));
        Assert.Equal(Guid.Parse("fc51acf5-f2f9-5932-a2fa-4a8d7bc4c36b"), QdrantVectorIndex.PointId("img-0001"));
        var ids = Enumerable.Range(0, 1000).Select(i => QdrantVectorIndex.PointId($"image-{i}")).ToList();
        Assert.Equal(1000, ids.Distinct().Count());
        Assert.All(ids, id =>
        {
            var text = id.ToString();
            Assert.Equal('5', text[14]);
            Assert.Contains(text[19], "89ab");
        });
    }

    [Fact]
    public async Task Creating_a_collection_asks_for_cosine_distance_and_the_hnsw_settings_and_leaves_the_rest_to_qdrant()
    {
        _client.GetCollectionInfoAsync("gallery", Arg.Any<CancellationToken>()).ThrowsAsync(Rpc(StatusCode.NotFound, "Not found: Collection `gallery` doesn't exist!"));
        await Create().EnsureCollectionAsync("gallery", 512);

        var request = Assert.IsType<CreateCollection>(Assert.Single(Calls(nameof(IQdrantClient.CreateCollectionAsync)))[0]);
        var expected = new CreateCollection
        {
            CollectionName = "gallery",
            VectorsConfig = new VectorsConfig { Params = new VectorParams { Size = 512, Distance = Distance.Cosine } },
            HnswConfig = new HnswConfigDiff { M = 24, EfConstruct = 200 },
        };
        Assert.Equal(expected, request);
        // Today's behaviour: no quantization, Qdrant's default shards, replicas and write consistency.
        Assert.Null(request.QuantizationConfig);
        Assert.False(request.HasShardNumber || request.HasReplicationFactor || request.HasWriteConsistencyFactor);
    }

    [Fact]
    public async Task The_large_gallery_settings_go_into_the_new_collection_and_quantized_searches_rescore()
    {
        _client.GetCollectionInfoAsync("gallery", Arg.Any<CancellationToken>()).ThrowsAsync(Rpc(StatusCode.NotFound, "missing"));
        _client.QueryBatchAsync(default!, default!).ReturnsForAnyArgs([new BatchResult()]);
        var index = Create(o =>
        {
            o.OnDiskVectors = true;
            o.HnswOnDisk = true;
            o.Quantization = QdrantQuantization.Int8;
            o.QuantizationQuantile = 0.99;
            o.QuantizationAlwaysRam = true;
            o.Oversampling = 3;
            o.ShardNumber = 12;
            o.ReplicationFactor = 2;
            o.WriteConsistencyFactor = 2;
        });
        await index.EnsureCollectionAsync("gallery", 512);
        await index.SearchAsync("gallery", [[1f, 0f]], 5);

        var request = (CreateCollection)Calls(nameof(IQdrantClient.CreateCollectionAsync)).Single()[0]!;
#pragma warning disable CS0612 // the deprecated flags are what the adapter sends (see QdrantVectorIndex.CreateCollectionRequest)
        Assert.True(request.VectorsConfig.Params.OnDisk);
        Assert.True(request.HnswConfig.OnDisk);
        Assert.Equal(new ScalarQuantization { Type = QuantizationType.Int8, Quantile = 0.99f, AlwaysRam = true }, request.QuantizationConfig.Scalar);
#pragma warning restore CS0612
        Assert.Equal((12u, 2u, 2u), (request.ShardNumber, request.ReplicationFactor, request.WriteConsistencyFactor));

        var query = ((IReadOnlyList<QueryPoints>)Calls(nameof(IQdrantClient.QueryBatchAsync)).Single()[1]!).Single();
        Assert.Equal(new SearchParams { HnswEf = 77, Quantization = new QuantizationSearchParams { Rescore = true, Oversampling = 3 } }, query.Params);
    }

    [Fact]
    public async Task Ensuring_an_existing_collection_checks_its_dimension_and_creates_nothing()
    {
        _client.GetCollectionInfoAsync("gallery", Arg.Any<CancellationToken>()).Returns(Info(512));
        var index = Create();
        await index.EnsureCollectionAsync("gallery", 512);
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => index.EnsureCollectionAsync("gallery", 256));
        Assert.Contains("512", error.Message);
        Assert.Contains("256", error.Message);
        Assert.Empty(Calls(nameof(IQdrantClient.CreateCollectionAsync)));
    }

    [Fact]
    public async Task A_collection_created_concurrently_is_accepted_when_its_dimension_matches()
    {
        _client.GetCollectionInfoAsync("gallery", Arg.Any<CancellationToken>())
            .Returns(_ => throw Rpc(StatusCode.NotFound, "missing"), _ => Task.FromResult(Info(512)), _ => Task.FromResult(Info(512)));
        _client.CreateCollectionAsync(Arg.Any<CreateCollection>(), Arg.Any<CancellationToken>())
            .ThrowsAsync(Rpc(StatusCode.AlreadyExists, "Wrong input: Collection `gallery` already exists!"));
        await Create().EnsureCollectionAsync("gallery", 512);

        _client.GetCollectionInfoAsync("gallery", Arg.Any<CancellationToken>()).Returns(_ => throw Rpc(StatusCode.NotFound, "missing"), _ => Task.FromResult(Info(128)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Create().EnsureCollectionAsync("gallery", 512));
    }

    [Fact]
    public async Task Upsert_is_split_into_batches_of_UpsertBatchSize_waits_and_keeps_the_original_id_in_the_payload()
    {
        var points = Enumerable.Range(1, 5).Select(i => Point($"img-{i}", [i, 1])).ToList();
        await Create(o => o.UpsertBatchSize = 2).UpsertAsync("gallery", points);

        var calls = Calls(nameof(IQdrantClient.UpsertAsync));
        Assert.Equal([2, 2, 1], calls.Select(c => ((IReadOnlyList<PointStruct>)c[1]!).Count));
        Assert.All(calls, c => Assert.Equal(("gallery", true), ((string)c[0]!, (bool)c[2]!)));
        var first = ((IReadOnlyList<PointStruct>)calls[0][1]!)[0];
        var expected = new PointStruct { Id = QdrantVectorIndex.PointId("img-1"), Vectors = new[] { 1f, 1f } };
        expected.Payload[QdrantVectorIndex.IdKey] = "img-1";
        expected.Payload[PayloadKeys.LandmarkId] = "1";
        Assert.Equal(expected, first);
    }

    [Fact]
    public async Task The_reserved_id_payload_key_and_bad_vectors_are_refused_before_anything_is_sent()
    {
        var spoof = new VectorPoint("x", [1, 0], new Dictionary<string, string> { [QdrantVectorIndex.IdKey] = "spoof" });
        var index = Create();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.UpsertAsync("gallery", [spoof]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.UpsertAsync("gallery", [Point("nan", [float.NaN, 1])]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => index.SearchAsync("gallery", [[0f, 0f]], 1));
        Assert.Empty(_client.ReceivedCalls());
    }

    [Fact]
    public async Task Batch_search_sends_one_query_per_vector_with_filter_limit_payload_and_hnsw_ef_in_one_call()
    {
        _client.QueryBatchAsync(default!, default!).ReturnsForAnyArgs([new BatchResult(), new BatchResult()]);
        var filter = new PayloadFilter(new Dictionary<string, string> { [PayloadKeys.Role] = "landmark", [PayloadKeys.LandmarkId] = "42" });
        await Create().SearchAsync("gallery-live", [[1f, 0f], [0f, 0.5f]], 5, filter);

        var call = Assert.Single(Calls(nameof(IQdrantClient.QueryBatchAsync)));
        Assert.Equal("gallery-live", call[0]);
        var queries = (IReadOnlyList<QueryPoints>)call[1]!;
        var expectedFilter = new Filter { Must = { MatchKeyword("role", "landmark"), MatchKeyword("landmark_id", "42") } };
        Assert.Equal(2, queries.Count);
        Assert.All(queries, q =>
        {
            Assert.Equal(("gallery-live", 5ul, expectedFilter), (q.CollectionName, q.Limit, q.Filter));
            Assert.Equal(new WithPayloadSelector { Enable = true }, q.WithPayload);
            Assert.Equal(new SearchParams { HnswEf = 77 }, q.Params);
        });
        Assert.Equal(new[] { 0f, 0.5f }, queries[1].Query.Nearest.Dense.Data);
    }

    [Fact]
    public async Task Search_without_a_filter_sends_no_filter()
    {
        _client.QueryBatchAsync(default!, default!).ReturnsForAnyArgs([new BatchResult()]);
        await Create().SearchAsync("gallery", [[1f, 0f]], 3);
        var query = ((IReadOnlyList<QueryPoints>)Calls(nameof(IQdrantClient.QueryBatchAsync)).Single()[1]!).Single();
        Assert.Null(query.Filter);
    }

    [Fact]
    public async Task Search_hits_map_back_to_the_original_ids_and_payloads()
    {
        var anonymous = new ScoredPoint { Id = Guid.Parse("ba7816bf-8f01-5fea-8141-40de5dae2223"), Score = 0.2f };
        anonymous.Payload["count"] = 3L;
        _client.QueryBatchAsync(default!, default!).ReturnsForAnyArgs(
        [
            new BatchResult { Result = { Hit("img-9", 0.93f, "42"), Hit("img-2", 0.41f, "7") } },
            new BatchResult { Result = { Hit("img-2", 0.99f, "7"), anonymous } },
        ]);
        var results = await Create().SearchAsync("gallery", [[1f, 0f], [0f, 1f]], 2);
        Assert.Equal(["img-9", "img-2"], results[0].Select(h => h.Id));
        Assert.Equal(0.93f, results[0][0].Score);
        Assert.Equal(new Dictionary<string, string> { ["landmark_id"] = "42", ["role"] = "landmark" }, results[0][0].Payload);
        Assert.Equal("img-2", results[1][0].Id);
        // A point written by someone else: its UUID stands for the id, non-string payload values come back as text.
        Assert.Equal(("ba7816bf-8f01-5fea-8141-40de5dae2223", "3"), (results[1][1].Id, results[1][1].Payload["count"]));
    }

    [Fact]
    public async Task A_batch_answer_of_the_wrong_length_is_refused()
    {
        _client.QueryBatchAsync(default!, default!).ReturnsForAnyArgs([new BatchResult()]);
        await Assert.ThrowsAsync<InvalidDataException>(() => Create().SearchAsync("gallery", [[1f, 0f], [0f, 1f]], 2));
    }

    [Fact]
    public async Task Count_asks_for_an_exact_count_with_the_filter()
    {
        _client.CountAsync(default!).ReturnsForAnyArgs(3ul);
        var count = await Create().CountAsync("gallery", PayloadFilter.Equal(PayloadKeys.Role, "non_landmark"));
        Assert.Equal(3, count);
        var call = Assert.Single(Calls(nameof(IQdrantClient.CountAsync)));
        Assert.Equal(("gallery", new Filter { Must = { MatchKeyword("role", "non_landmark") } }, true), ((string)call[0]!, (Filter?)call[1], (bool)call[2]!));
        await Create().CountAsync("gallery");
        Assert.Null(Calls(nameof(IQdrantClient.CountAsync))[1][1]);
    }

    [Fact]
    public async Task Get_retrieves_the_point_with_its_vector_and_payload()
    {
        var id = QdrantVectorIndex.PointId("img-1");
        var point = new RetrievedPoint { Id = id, Vectors = new VectorsOutput { Vector = new VectorOutput { Dense = new DenseVector { Data = { 0.6f, 0.8f } } } } };
        point.Payload[QdrantVectorIndex.IdKey] = "img-1";
        point.Payload[PayloadKeys.LandmarkId] = "3";
        _client.RetrieveAsync("gallery", id, true, true, Arg.Any<ReadConsistency?>(), Arg.Any<ShardKeySelector?>(), Arg.Any<CancellationToken>())
            .Returns([point]);
        _client.RetrieveAsync("gallery", QdrantVectorIndex.PointId("missing"), Arg.Any<bool>(), Arg.Any<bool>(), Arg.Any<ReadConsistency?>(),
            Arg.Any<ShardKeySelector?>(), Arg.Any<CancellationToken>()).Returns(Array.Empty<RetrievedPoint>());
        var index = Create();

        var got = await index.GetAsync("gallery", "img-1");
        Assert.NotNull(got);
        Assert.Equal(("img-1", 0.8f, "3"), (got.Id, got.Vector[1], got.Payload[PayloadKeys.LandmarkId]));
        Assert.False(got.Payload.ContainsKey(QdrantVectorIndex.IdKey));
        Assert.Null(await index.GetAsync("gallery", "missing"));
    }

    [Fact]
    public async Task Get_reads_vectors_in_the_older_data_form_too()
    {
        var id = QdrantVectorIndex.PointId("img-1");
#pragma warning disable CS0612 // servers before 1.13 fill the deprecated data field
        var point = new RetrievedPoint { Id = id, Vectors = new VectorsOutput { Vector = new VectorOutput { Data = { 1f, 0f } } } };
#pragma warning restore CS0612
        _client.RetrieveAsync(default!, default(Guid)).ReturnsForAnyArgs([point]);
        var got = await Create().GetAsync("gallery", "img-1");
        Assert.Equal(new[] { 1f, 0f }, got!.Vector);
        Assert.Equal("img-1", got.Id);
    }

    [Fact]
    public async Task Deleting_points_sends_their_uuids_in_batches_and_waits()
    {
        await Create(o => o.UpsertBatchSize = 2).DeleteAsync("gallery", ["a", "b", "c"]);
        var calls = Calls(nameof(IQdrantClient.DeleteAsync));
        Assert.Equal(2, calls.Count);
        Assert.Equal([QdrantVectorIndex.PointId("a"), QdrantVectorIndex.PointId("b")], (IReadOnlyList<Guid>)calls[0][1]!);
        Assert.Equal([QdrantVectorIndex.PointId("c")], (IReadOnlyList<Guid>)calls[1][1]!);
        Assert.All(calls, c => Assert.Equal(("gallery", true), ((string)c[0]!, (bool)c[2]!)));
    }

    [Fact]
    public async Task Moving_an_alias_is_one_call_with_a_delete_and_a_create_operation()
    {
        _client.ListAliasesAsync(Arg.Any<CancellationToken>()).Returns([new AliasDescription { AliasName = "gallery-live", CollectionName = "gallery-v1" }]);
        await Create().SetAliasAsync("gallery-live", "gallery-v2");

        var operations = (IReadOnlyList<AliasOperations>)Assert.Single(Calls(nameof(IQdrantClient.UpdateAliasesAsync)))[0]!;
        Assert.Equal(
            [
                new AliasOperations { DeleteAlias = new DeleteAlias { AliasName = "gallery-live" } },
                new AliasOperations { CreateAlias = new CreateAlias { CollectionName = "gallery-v2", AliasName = "gallery-live" } },
            ],
            operations);
    }

    [Fact]
    public async Task A_new_alias_is_created_without_a_delete()
    {
        _client.ListAliasesAsync(Arg.Any<CancellationToken>()).Returns(Array.Empty<AliasDescription>());
        await Create().SetAliasAsync("gallery-live", "gallery-v1");
        var operations = (IReadOnlyList<AliasOperations>)Assert.Single(Calls(nameof(IQdrantClient.UpdateAliasesAsync)))[0]!;
        Assert.Equal([new AliasOperations { CreateAlias = new CreateAlias { CollectionName = "gallery-v1", AliasName = "gallery-live" } }], operations);
    }

    [Fact]
    public async Task Aliases_and_collections_are_read_from_the_listings()
    {
        _client.ListAliasesAsync(Arg.Any<CancellationToken>()).Returns(
            [new AliasDescription { AliasName = "other", CollectionName = "x" }, new AliasDescription { AliasName = "gallery-live", CollectionName = "gallery-v2" }],
            Array.Empty<AliasDescription>());
        _client.ListCollectionsAsync(Arg.Any<CancellationToken>()).Returns(["gallery-v2", "gallery-v1"]);
        var index = Create();
        Assert.Equal("gallery-v2", await index.ResolveAliasAsync("gallery-live"));
        Assert.Null(await index.ResolveAliasAsync("gallery-live"));
        Assert.Equal(["gallery-v1", "gallery-v2"], await index.ListCollectionsAsync());
    }

    [Fact]
    public async Task A_collection_exists_when_qdrant_says_so_or_an_alias_has_that_name()
    {
        _client.CollectionExistsAsync("gallery-v1", Arg.Any<CancellationToken>()).Returns(true);
        _client.ListAliasesAsync(Arg.Any<CancellationToken>()).Returns([new AliasDescription { AliasName = "gallery-live", CollectionName = "gallery-v1" }]);
        var index = Create();
        Assert.True(await index.CollectionExistsAsync("gallery-v1"));
        Assert.True(await index.CollectionExistsAsync("gallery-live"));
        Assert.False(await index.CollectionExistsAsync("gallery-v9"));
    }

    [Fact]
    public async Task Deleting_a_missing_collection_is_a_no_op()
    {
        _client.DeleteCollectionAsync("gone", Arg.Any<TimeSpan?>(), Arg.Any<CancellationToken>()).ThrowsAsync(new QdrantException("Collection 'gone' could not be deleted"));
        _client.DeleteCollectionAsync("never", Arg.Any<TimeSpan?>(), Arg.Any<CancellationToken>()).ThrowsAsync(Rpc(StatusCode.NotFound, "missing"));
        var index = Create();
        await index.DeleteCollectionAsync("gallery-v1");
        await index.DeleteCollectionAsync("gone");
        await index.DeleteCollectionAsync("never");
        Assert.Equal(["gallery-v1", "gone", "never"], Calls(nameof(IQdrantClient.DeleteCollectionAsync)).Select(c => (string)c[0]!));
    }

    [Fact]
    public async Task A_missing_collection_raises_CollectionNotFoundException_with_qdrants_message()
    {
        _client.QueryBatchAsync(default!, default!).ThrowsAsyncForAnyArgs(Rpc(StatusCode.NotFound, "Not found: Collection `gallery` doesn't exist!"));
        _client.CountAsync(default!).ThrowsAsyncForAnyArgs(Rpc(StatusCode.NotFound, "Not found: Collection `gallery` doesn't exist!"));
        var index = Create();
        var error = await Assert.ThrowsAsync<CollectionNotFoundException>(() => index.SearchAsync("gallery", [[1f, 0f]], 1));
        Assert.Equal("gallery", error.Collection);
        Assert.Contains("doesn't exist", error.Message);
        Assert.Equal("gallery", (await Assert.ThrowsAsync<CollectionNotFoundException>(() => index.CountAsync("gallery"))).Collection);
    }

    [Fact]
    public async Task A_rejected_request_raises_ArgumentException_and_an_unavailable_server_the_rpc_error()
    {
        _client.UpsertAsync(default!, default!).ThrowsAsyncForAnyArgs(Rpc(StatusCode.InvalidArgument, "Wrong input: Vector dimension error: expected dim: 512, got 2"));
        _client.CountAsync(default!).ThrowsAsyncForAnyArgs(Rpc(StatusCode.Unavailable, "connection refused"));
        var index = Create();
        var rejected = await Assert.ThrowsAsync<ArgumentException>(() => index.UpsertAsync("gallery", [Point("a", [1, 0])]));
        Assert.Contains("expected dim: 512, got 2", rejected.Message);
        Assert.IsType<RpcException>(rejected.InnerException);
        var failed = await Assert.ThrowsAsync<RpcException>(() => index.CountAsync("gallery"));
        Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
    }

    [Fact]
    public void Filters_translate_to_must_keyword_match_conditions()
    {
        Assert.Null(QdrantVectorIndex.ToQdrant((PayloadFilter?)null));
        Assert.Null(QdrantVectorIndex.ToQdrant(new PayloadFilter(new Dictionary<string, string>())));
        var filter = QdrantVectorIndex.ToQdrant(PayloadFilter.Equal("k", "v"));
        var condition = Assert.Single(filter!.Must);
        Assert.Equal(("k", "v"), (condition.Field.Key, condition.Field.Match.Keyword));
    }
}
