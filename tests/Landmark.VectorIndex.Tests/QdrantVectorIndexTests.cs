using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Landmark.VectorIndex;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>The Qdrant adapter's requests, checked against Qdrant's documented REST shapes without a server.
/// (The full contract runs against a real Qdrant in <see cref="QdrantVectorIndexContractTests"/> when QDRANT_URL is set.)</summary>
public sealed class QdrantVectorIndexRequestTests
{
    private readonly RecordingHandler _handler = new();

    private QdrantVectorIndex Create(int batch = 256) => new(new SingleClientFactory(_handler),
        Options.Create(new VectorIndexOptions { Provider = VectorIndexProvider.Qdrant, Qdrant = new QdrantOptions { UpsertBatchSize = batch, SearchEf = 77 } }));

    [Fact]
    public void String_ids_map_to_stable_version_5_uuids()
    {
        var a = QdrantVectorIndex.PointId("abc");
        Assert.Equal(a, QdrantVectorIndex.PointId("abc"));
        Assert.NotEqual(a, QdrantVectorIndex.PointId("abd"));
        Assert.Equal('5', a.ToString()[14]);
    }

    [Fact]
    public async Task Upsert_splits_into_batches_and_keeps_the_original_id_in_the_payload()
    {
        _handler.Respond("""{"result":{"operation_id":1,"status":"completed"},"status":"ok"}""");
        var index = Create(batch: 2);
        await index.UpsertAsync("gallery", [new("x1", [1, 0], new Dictionary<string, string> { ["role"] = "landmark" }), new("x2", [0, 1], new Dictionary<string, string>()), new("x3", [1, 1], new Dictionary<string, string>())]);
        Assert.Equal(2, _handler.Requests.Count);
        var (method, path, body) = _handler.Requests[0];
        Assert.Equal("PUT", method);
        Assert.Equal("/collections/gallery/points?wait=true", path);
        var point = body!["points"]![0]!;
        Assert.Equal(QdrantVectorIndex.PointId("x1").ToString(), point["id"]!.GetValue<string>());
        Assert.Equal("x1", point["payload"]![QdrantVectorIndex.IdKey]!.GetValue<string>());
        Assert.Equal("landmark", point["payload"]!["role"]!.GetValue<string>());
    }

    [Fact]
    public async Task Batch_search_sends_filter_and_ef_and_maps_hits_back_to_original_ids()
    {
        _handler.Respond("""{"result":[[{"id":"8d0e1c8a-0000-5000-8000-000000000000","version":1,"score":0.9,"payload":{"_id":"img-1","role":"landmark"}}]],"status":"ok","time":0.001}""");
        var hits = await Create().SearchAsync("gallery-live", [[1f, 0f]], 5, PayloadFilter.Equal("role", "landmark"));
        var (method, path, body) = _handler.Requests.Single();
        Assert.Equal(("POST", "/collections/gallery-live/points/search/batch"), (method, path));
        var search = body!["searches"]![0]!;
        Assert.Equal(5, search["limit"]!.GetValue<int>());
        Assert.Equal(77, search["params"]!["hnsw_ef"]!.GetValue<int>());
        Assert.Equal("role", search["filter"]!["must"]![0]!["key"]!.GetValue<string>());
        Assert.Equal("landmark", search["filter"]!["must"]![0]!["match"]!["value"]!.GetValue<string>());
        var hit = Assert.Single(Assert.Single(hits));
        Assert.Equal("img-1", hit.Id);
        Assert.False(hit.Payload.ContainsKey(QdrantVectorIndex.IdKey));
    }

    [Fact]
    public async Task Moving_an_alias_is_one_request_with_delete_and_create_actions()
    {
        _handler.Respond("""{"result":{"aliases":[{"alias_name":"live","collection_name":"gallery-a"}]},"status":"ok"}""");
        _handler.Respond("""{"result":true,"status":"ok"}""");
        await Create().SetAliasAsync("live", "gallery-b");
        var (method, path, body) = _handler.Requests[1];
        Assert.Equal(("POST", "/collections/aliases"), (method, path));
        var actions = body!["actions"]!.AsArray();
        Assert.Equal("live", actions[0]!["delete_alias"]!["alias_name"]!.GetValue<string>());
        Assert.Equal("gallery-b", actions[1]!["create_alias"]!["collection_name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Creating_a_collection_asks_for_cosine_distance_and_hnsw_settings()
    {
        _handler.Respond("""{"status":{"error":"Not found: Collection `g` doesn't exist!"}}""", HttpStatusCode.NotFound);
        _handler.Respond("""{"result":true,"status":"ok"}""");
        await Create().EnsureCollectionAsync("g", 512);
        var (method, path, body) = _handler.Requests[1];
        Assert.Equal(("PUT", "/collections/g"), (method, path));
        Assert.Equal(512, body!["vectors"]!["size"]!.GetValue<int>());
        Assert.Equal("Cosine", body["vectors"]!["distance"]!.GetValue<string>());
        Assert.Equal(16, body["hnsw_config"]!["m"]!.GetValue<int>());
    }

    private sealed class RecordingHandler : HttpMessageHandler
    {
        private readonly Queue<(string Body, HttpStatusCode Status)> _responses = new();
        public List<(string Method, string Path, JsonNode? Body)> Requests { get; } = [];

        public void Respond(string json, HttpStatusCode status = HttpStatusCode.OK) => _responses.Enqueue((json, status));

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken));
            Requests.Add((request.Method.Method, request.RequestUri!.PathAndQuery, body));
            var (json, status) = _responses.Count > 1 ? _responses.Dequeue() : _responses.Peek();
            return new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json"), RequestMessage = request };
        }
    }

    private sealed class SingleClientFactory(HttpMessageHandler handler) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new(handler, disposeHandler: false) { BaseAddress = new Uri("http://qdrant.test:6333/") };
    }
}
