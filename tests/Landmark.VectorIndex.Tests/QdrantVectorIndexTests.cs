using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// The Qdrant adapter's requests and response handling, checked without a server: a recording handler captures the
/// requests and answers with responses shaped like those in Qdrant's REST API reference. The behaviour against a real
/// server is covered by <see cref="VectorIndexContract"/> when <c>QDRANT_URL</c> is set.
/// </summary>
public sealed class QdrantVectorIndexTests
{
    private const string BaseUrl = "http://qdrant.test:6333";

    // Canned responses in the shapes of Qdrant's API reference.
    private const string Ok = """{"result":true,"status":"ok","time":0.000152}""";
    private const string Updated = """{"result":{"operation_id":7,"status":"completed"},"status":"ok","time":0.0021}""";
    private const string CollectionNotFound = """{"status":{"error":"Not found: Collection `gallery` doesn't exist!"},"time":0.000021}""";
    private const string CollectionInfo512 = """
        {"result":{"status":"green","optimizer_status":"ok","indexed_vectors_count":0,"points_count":12,"segments_count":2,
          "config":{"params":{"vectors":{"size":512,"distance":"Cosine"},"shard_number":1,"replication_factor":1,
            "write_consistency_factor":1,"on_disk_payload":true},
            "hnsw_config":{"m":16,"ef_construct":128,"full_scan_threshold":10000,"max_indexing_threads":0,"on_disk":false},
            "optimizer_config":{"deleted_threshold":0.2,"vacuum_min_vector_number":1000,"default_segment_number":0,
              "max_segment_size":null,"memmap_threshold":null,"indexing_threshold":20000,"flush_interval_sec":5,
              "max_optimization_threads":null},
            "wal_config":{"wal_capacity_mb":32,"wal_segments_ahead":0},"quantization_config":null},
          "payload_schema":{}},
         "status":"ok","time":0.00005}
        """;

    private readonly RecordingHandler _handler = new();

    private QdrantVectorIndex Create(int upsertBatchSize = 256, string? apiKey = null) =>
        new(new HandlerClientFactory(_handler), Options.Create(new VectorIndexOptions
        {
            Provider = VectorIndexProvider.Qdrant,
            Qdrant = new QdrantOptions { Url = BaseUrl, ApiKey = apiKey, UpsertBatchSize = upsertBatchSize, SearchEf = 77, HnswM = 24, HnswEfConstruct = 200 },
        }));

    private static VectorPoint Point(string id, float[] vector, string landmark = "1") =>
        new(id, vector, new Dictionary<string, string> { [PayloadKeys.LandmarkId] = landmark });

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {JsonNode.Parse(expected)!.ToJsonString()}\n  actual {actual?.ToJsonString()}");

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
    public async Task Creating_a_collection_asks_for_cosine_distance_and_the_hnsw_settings()
    {
        _handler.Respond(CollectionNotFound, HttpStatusCode.NotFound).Respond(Ok);
        await Create().EnsureCollectionAsync("gallery", 512);
        Assert.Equal(2, _handler.Requests.Count);
        Assert.Equal(("GET", "/collections/gallery"), (_handler.Requests[0].Method, _handler.Requests[0].PathAndQuery));
        var create = _handler.Requests[1];
        Assert.Equal(("PUT", "/collections/gallery", BaseUrl), (create.Method, create.PathAndQuery, create.Authority));
        AssertJson("""{"vectors":{"size":512,"distance":"Cosine"},"hnsw_config":{"m":24,"ef_construct":200}}""", create.Body);
    }

    [Fact]
    public async Task Ensuring_an_existing_collection_checks_its_dimension_and_creates_nothing()
    {
        _handler.Respond(CollectionInfo512).Respond(CollectionInfo512);
        var index = Create();
        await index.EnsureCollectionAsync("gallery", 512);
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => index.EnsureCollectionAsync("gallery", 256));
        Assert.Contains("512", error.Message);
        Assert.All(_handler.Requests, r => Assert.Equal("GET", r.Method));
    }

    [Fact]
    public async Task Upsert_is_split_into_batches_of_UpsertBatchSize_and_keeps_the_original_id_in_the_payload()
    {
        _handler.Respond(Updated).Respond(Updated).Respond(Updated);
        var points = Enumerable.Range(1, 5).Select(i => Point($"img-{i}", [i, 1])).ToList();
        await Create(upsertBatchSize: 2).UpsertAsync("gallery", points);

        Assert.Equal([2, 2, 1], _handler.Requests.Select(r => r.Body!["points"]!.AsArray().Count));
        Assert.All(_handler.Requests, r => Assert.Equal(("PUT", "/collections/gallery/points?wait=true"), (r.Method, r.PathAndQuery)));
        AssertJson($$$"""
            {"points":[
              {"id":"{{{QdrantVectorIndex.PointId("img-1")}}}","vector":[1,1],"payload":{"_id":"img-1","landmark_id":"1"}},
              {"id":"{{{QdrantVectorIndex.PointId("img-2")}}}","vector":[2,1],"payload":{"_id":"img-2","landmark_id":"1"}}]}
            """, _handler.Requests[0].Body);
    }

    [Fact]
    public async Task The_reserved_id_payload_key_is_refused_before_anything_is_sent()
    {
        var point = new VectorPoint("x", [1, 0], new Dictionary<string, string> { [QdrantVectorIndex.IdKey] = "spoof" });
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Create().UpsertAsync("gallery", [point]));
        Assert.Empty(_handler.Requests);
    }

    [Fact]
    public async Task Batch_search_sends_one_search_per_query_with_filter_limit_and_hnsw_ef()
    {
        _handler.Respond("""{"result":[[],[]],"status":"ok","time":0.0004}""");
        var filter = new PayloadFilter(new Dictionary<string, string> { [PayloadKeys.Role] = "landmark", [PayloadKeys.LandmarkId] = "42" });
        await Create().SearchAsync("gallery-live", [[1f, 0f], [0f, 0.5f]], 5, filter);

        var request = Assert.Single(_handler.Requests);
        Assert.Equal(("POST", "/collections/gallery-live/points/search/batch"), (request.Method, request.PathAndQuery));
        const string filterJson = """{"must":[{"key":"role","match":{"value":"landmark"}},{"key":"landmark_id","match":{"value":"42"}}]}""";
        AssertJson($$$"""
            {"searches":[
              {"vector":[1,0],"limit":5,"filter":{{{filterJson}}},"with_payload":true,"params":{"hnsw_ef":77}},
              {"vector":[0,0.5],"limit":5,"filter":{{{filterJson}}},"with_payload":true,"params":{"hnsw_ef":77}}]}
            """, request.Body);
    }

    [Fact]
    public async Task Search_without_a_filter_sends_no_filter_key()
    {
        _handler.Respond("""{"result":[[]],"status":"ok","time":0.0004}""");
        await Create().SearchAsync("gallery", [[1f, 0f]], 3);
        Assert.False(_handler.Requests[0].Body!["searches"]![0]!.AsObject().ContainsKey("filter"));
    }

    [Fact]
    public async Task Search_hits_map_back_to_the_original_ids_and_payloads()
    {
        _handler.Respond($$$"""
            {"result":[
              [{"id":"{{{QdrantVectorIndex.PointId("img-9")}}}","version":3,"score":0.93,"payload":{"_id":"img-9","landmark_id":"42","role":"landmark"}},
               {"id":"{{{QdrantVectorIndex.PointId("img-2")}}}","version":1,"score":0.41,"payload":{"_id":"img-2","landmark_id":"7","role":"landmark"}}],
              [{"id":"{{{QdrantVectorIndex.PointId("img-2")}}}","version":1,"score":0.99,"payload":{"_id":"img-2","landmark_id":"7","role":"landmark"}}]
            ],"status":"ok","time":0.0012}
            """);
        var results = await Create().SearchAsync("gallery", [[1f, 0f], [0f, 1f]], 2);
        Assert.Equal(["img-9", "img-2"], results[0].Select(h => h.Id));
        Assert.Equal(0.93f, results[0][0].Score);
        Assert.Equal(new Dictionary<string, string> { ["landmark_id"] = "42", ["role"] = "landmark" }, results[0][0].Payload);
        Assert.Equal("img-2", Assert.Single(results[1]).Id);
    }

    [Fact]
    public async Task Count_asks_for_an_exact_count_with_the_filter()
    {
        _handler.Respond("""{"result":{"count":3},"status":"ok","time":0.0001}""");
        var count = await Create().CountAsync("gallery", PayloadFilter.Equal(PayloadKeys.Role, "non_landmark"));
        Assert.Equal(3, count);
        var request = Assert.Single(_handler.Requests);
        Assert.Equal(("POST", "/collections/gallery/points/count"), (request.Method, request.PathAndQuery));
        AssertJson("""{"filter":{"must":[{"key":"role","match":{"value":"non_landmark"}}]},"exact":true}""", request.Body);
    }

    [Fact]
    public async Task Get_retrieves_the_point_with_its_vector_and_payload()
    {
        var id = QdrantVectorIndex.PointId("img-1");
        _handler.Respond($$$"""{"result":[{"id":"{{{id}}}","payload":{"_id":"img-1","landmark_id":"3"},"vector":[0.6,0.8]}],"status":"ok","time":0.0001}""")
            .Respond("""{"result":[],"status":"ok","time":0.0001}""");
        var index = Create();
        var point = await index.GetAsync("gallery", "img-1");
        Assert.NotNull(point);
        Assert.Equal(("img-1", 0.8f, "3"), (point.Id, point.Vector[1], point.Payload[PayloadKeys.LandmarkId]));
        Assert.Null(await index.GetAsync("gallery", "missing"));
        Assert.Equal(("POST", "/collections/gallery/points"), (_handler.Requests[0].Method, _handler.Requests[0].PathAndQuery));
        AssertJson($$$"""{"ids":["{{{id}}}"],"with_payload":true,"with_vector":true}""", _handler.Requests[0].Body);
    }

    [Fact]
    public async Task Deleting_points_sends_their_uuids_and_waits()
    {
        _handler.Respond(Updated);
        await Create().DeleteAsync("gallery", ["a", "b"]);
        var request = Assert.Single(_handler.Requests);
        Assert.Equal(("POST", "/collections/gallery/points/delete?wait=true"), (request.Method, request.PathAndQuery));
        AssertJson($$$"""{"points":["{{{QdrantVectorIndex.PointId("a")}}}","{{{QdrantVectorIndex.PointId("b")}}}"]}""", request.Body);
    }

    [Fact]
    public async Task Moving_an_alias_is_one_request_with_a_delete_and_a_create_action()
    {
        _handler.Respond(Ok);
        await Create().SetAliasAsync("gallery-live", "gallery-v2");
        var request = Assert.Single(_handler.Requests);
        Assert.Equal(("POST", "/collections/aliases"), (request.Method, request.PathAndQuery));
        AssertJson("""
            {"actions":[
              {"delete_alias":{"alias_name":"gallery-live"}},
              {"create_alias":{"collection_name":"gallery-v2","alias_name":"gallery-live"}}]}
            """, request.Body);
    }

    [Fact]
    public async Task Aliases_and_collections_are_read_from_the_listing_endpoints()
    {
        _handler.Respond("""{"result":{"aliases":[{"alias_name":"other","collection_name":"x"},{"alias_name":"gallery-live","collection_name":"gallery-v2"}]},"status":"ok","time":0.0001}""")
            .Respond("""{"result":{"aliases":[]},"status":"ok","time":0.0001}""")
            .Respond("""{"result":{"collections":[{"name":"gallery-v2"},{"name":"gallery-v1"}]},"status":"ok","time":0.0001}""");
        var index = Create();
        Assert.Equal("gallery-v2", await index.ResolveAliasAsync("gallery-live"));
        Assert.Null(await index.ResolveAliasAsync("gallery-live"));
        Assert.Equal(["gallery-v1", "gallery-v2"], await index.ListCollectionsAsync());
        Assert.Equal(["/aliases", "/aliases", "/collections"], _handler.Requests.Select(r => r.PathAndQuery));
    }

    [Fact]
    public async Task Deleting_a_collection_uses_the_delete_verb()
    {
        _handler.Respond(Ok);
        await Create().DeleteCollectionAsync("gallery-v1");
        Assert.Equal(("DELETE", "/collections/gallery-v1"), (_handler.Requests[0].Method, _handler.Requests[0].PathAndQuery));
    }

    [Fact]
    public async Task The_api_key_header_is_sent_only_when_configured()
    {
        _handler.Respond("""{"result":{"collections":[]},"status":"ok","time":0.0001}""")
            .Respond("""{"result":{"collections":[]},"status":"ok","time":0.0001}""");
        await Create(apiKey: "s3cret").ListCollectionsAsync();
        await Create().ListCollectionsAsync();
        Assert.Equal(["s3cret", null], _handler.Requests.Select(r => r.ApiKey));
    }

    [Fact]
    public async Task A_missing_collection_raises_CollectionNotFoundException_with_qdrants_message()
    {
        _handler.Respond(CollectionNotFound, HttpStatusCode.NotFound);
        var error = await Assert.ThrowsAsync<CollectionNotFoundException>(() => Create().SearchAsync("gallery", [[1f, 0f]], 1));
        Assert.Equal("gallery", error.Collection);
        Assert.Contains("doesn't exist", error.Message);
    }

    [Fact]
    public async Task A_rejected_request_raises_ArgumentException_and_a_server_error_HttpRequestException()
    {
        _handler.Respond("""{"status":{"error":"Wrong input: Vector dimension error: expected dim: 512, got 2"},"time":0.0001}""", HttpStatusCode.BadRequest)
            .Respond("""{"status":{"error":"Service internal error: boom"},"time":0.0001}""", HttpStatusCode.InternalServerError);
        var index = Create();
        var rejected = await Assert.ThrowsAsync<ArgumentException>(() => index.UpsertAsync("gallery", [Point("a", [1, 0])]));
        Assert.Contains("expected dim: 512, got 2", rejected.Message);
        var failed = await Assert.ThrowsAsync<HttpRequestException>(() => index.CountAsync("gallery"));
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
    }

    [Fact]
    public void Filters_translate_to_must_match_conditions()
    {
        Assert.Null(QdrantVectorIndex.ToQdrant((PayloadFilter?)null));
        Assert.Null(QdrantVectorIndex.ToQdrant(new PayloadFilter(new Dictionary<string, string>())));
        var filter = QdrantVectorIndex.ToQdrant(PayloadFilter.Equal("k", "v"));
        Assert.Equal(new QdrantFieldCondition("k", new QdrantMatch("v")), Assert.Single(filter!.Must));
    }
}
