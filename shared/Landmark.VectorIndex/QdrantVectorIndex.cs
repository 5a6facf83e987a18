using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>
/// <see cref="IVectorIndex"/> on a Qdrant server, through its documented REST API (no client package is used).
/// Collections use cosine distance and the configured HNSW settings; string ids map to deterministic UUIDs (the
/// original id travels in the payload key <see cref="IdKey"/>); aliases are switched with one atomic
/// <c>POST /collections/aliases</c> carrying both the delete and the create action.
/// </summary>
public sealed class QdrantVectorIndex(IHttpClientFactory httpClientFactory, IOptions<VectorIndexOptions> options) : IVectorIndex
{
    public const string HttpClientName = "qdrant";

    /// <summary>Payload key holding the caller's id.</summary>
    public const string IdKey = "_id";

    private readonly QdrantOptions _options = options.Value.Qdrant;

    private HttpClient Http => httpClientFactory.CreateClient(HttpClientName);

    /// <summary>Deterministic RFC 4122 (version 5-style) UUID for a string id.</summary>
    public static Guid PointId(string id)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(id));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    public async Task EnsureCollectionAsync(string collection, int dimension, CancellationToken cancellationToken = default)
    {
        using var existing = await Http.GetAsync($"collections/{Uri.EscapeDataString(collection)}", cancellationToken);
        if (existing.StatusCode == HttpStatusCode.OK)
        {
            var info = await ReadResultAsync(existing, cancellationToken);
            var size = info?["config"]?["params"]?["vectors"]?["size"]?.GetValue<int>();
            if (size is { } s && s != dimension)
            {
                throw new ArgumentException($"Collection '{collection}' holds {s}-d vectors, not {dimension}-d.", nameof(dimension));
            }
            return;
        }
        var body = new JsonObject
        {
            ["vectors"] = new JsonObject { ["size"] = dimension, ["distance"] = "Cosine" },
            ["hnsw_config"] = new JsonObject { ["m"] = _options.HnswM, ["ef_construct"] = _options.HnswEfConstruct },
        };
        using var response = await Http.PutAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}", body, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return; // created concurrently
        }
        await EnsureSuccessAsync(response, cancellationToken);
    }

    public async Task<bool> CollectionExistsAsync(string collection, CancellationToken cancellationToken = default)
    {
        using var response = await Http.GetAsync($"collections/{Uri.EscapeDataString(collection)}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return await ResolveAliasAsync(collection, cancellationToken) is not null;
        }
        await EnsureSuccessAsync(response, cancellationToken);
        return true;
    }

    public async Task DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default)
    {
        using var response = await Http.DeleteAsync($"collections/{Uri.EscapeDataString(collection)}", cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await Http.GetAsync("collections", cancellationToken);
        var result = await ReadResultAsync(response, cancellationToken);
        return result?["collections"]?.AsArray().Select(c => c!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToList() ?? [];
    }

    public async Task UpsertAsync(string collection, IReadOnlyList<VectorPoint> points, CancellationToken cancellationToken = default)
    {
        foreach (var batch in points.Chunk(_options.UpsertBatchSize))
        {
            var array = new JsonArray();
            foreach (var p in batch)
            {
                var payload = new JsonObject { [IdKey] = p.Id };
                foreach (var (k, v) in p.Payload)
                {
                    payload[k] = v;
                }
                array.Add(new JsonObject
                {
                    ["id"] = PointId(p.Id).ToString(),
                    ["vector"] = new JsonArray(p.Vector.Select(v => (JsonNode)v).ToArray()),
                    ["payload"] = payload,
                });
            }
            using var response = await Http.PutAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}/points?wait=true",
                new JsonObject { ["points"] = array }, cancellationToken);
            await EnsureSuccessAsync(response, cancellationToken);
        }
    }

    public async Task DeleteAsync(string collection, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["points"] = new JsonArray(ids.Select(id => (JsonNode)PointId(id).ToString()).ToArray()) };
        using var response = await Http.PostAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}/points/delete?wait=true", body, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    public async Task<VectorPoint?> GetAsync(string collection, string id, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["ids"] = new JsonArray(PointId(id).ToString()),
            ["with_payload"] = true,
            ["with_vector"] = true,
        };
        using var response = await Http.PostAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}/points", body, cancellationToken);
        var result = await ReadResultAsync(response, cancellationToken);
        var point = result?.AsArray().FirstOrDefault();
        if (point is null)
        {
            return null;
        }
        var vector = point["vector"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
        var (originalId, payload) = ReadPayload(point["payload"]);
        return new VectorPoint(originalId ?? id, vector, payload);
    }

    public async Task<IReadOnlyList<IReadOnlyList<SearchHit>>> SearchAsync(string collection, IReadOnlyList<float[]> queries, int limit,
        PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var searches = new JsonArray();
        foreach (var q in queries)
        {
            var search = new JsonObject
            {
                ["vector"] = new JsonArray(q.Select(v => (JsonNode)v).ToArray()),
                ["limit"] = limit,
                ["with_payload"] = true,
                ["params"] = new JsonObject { ["hnsw_ef"] = _options.SearchEf },
            };
            if (filter is not null)
            {
                search["filter"] = FilterJson(filter);
            }
            searches.Add(search);
        }
        using var response = await Http.PostAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}/points/search/batch",
            new JsonObject { ["searches"] = searches }, cancellationToken);
        var result = await ReadResultAsync(response, cancellationToken);
        return result!.AsArray().Select(list => (IReadOnlyList<SearchHit>)list!.AsArray().Select(hit =>
        {
            var (originalId, payload) = ReadPayload(hit!["payload"]);
            return new SearchHit(originalId ?? hit["id"]!.ToString(), hit["score"]!.GetValue<float>(), payload);
        }).ToList()).ToList();
    }

    public async Task<long> CountAsync(string collection, PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["exact"] = true };
        if (filter is not null)
        {
            body["filter"] = FilterJson(filter);
        }
        using var response = await Http.PostAsJsonAsync($"collections/{Uri.EscapeDataString(collection)}/points/count", body, cancellationToken);
        var result = await ReadResultAsync(response, cancellationToken);
        return result!["count"]!.GetValue<long>();
    }

    public async Task SetAliasAsync(string alias, string collection, CancellationToken cancellationToken = default)
    {
        var actions = new JsonArray();
        if (await ResolveAliasAsync(alias, cancellationToken) is not null)
        {
            actions.Add(new JsonObject { ["delete_alias"] = new JsonObject { ["alias_name"] = alias } });
        }
        actions.Add(new JsonObject { ["create_alias"] = new JsonObject { ["collection_name"] = collection, ["alias_name"] = alias } });
        using var response = await Http.PostAsJsonAsync("collections/aliases", new JsonObject { ["actions"] = actions }, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    public async Task<string?> ResolveAliasAsync(string alias, CancellationToken cancellationToken = default)
    {
        using var response = await Http.GetAsync("aliases", cancellationToken);
        var result = await ReadResultAsync(response, cancellationToken);
        return result?["aliases"]?.AsArray()
            .FirstOrDefault(a => a!["alias_name"]!.GetValue<string>() == alias)?["collection_name"]?.GetValue<string>();
    }

    /// <summary>Qdrant's filter: every key must match its value.</summary>
    public static JsonObject FilterJson(PayloadFilter filter) => new()
    {
        ["must"] = new JsonArray(filter.MustEqual.Select(kv => (JsonNode)new JsonObject
        {
            ["key"] = kv.Key,
            ["match"] = new JsonObject { ["value"] = kv.Value },
        }).ToArray()),
    };

    private static (string? Id, IReadOnlyDictionary<string, string> Payload) ReadPayload(JsonNode? node)
    {
        var payload = new Dictionary<string, string>(StringComparer.Ordinal);
        string? id = null;
        if (node is JsonObject obj)
        {
            foreach (var (key, value) in obj)
            {
                if (key == IdKey)
                {
                    id = value?.ToString();
                }
                else
                {
                    payload[key] = value?.ToString() ?? "";
                }
            }
        }
        return (id, payload);
    }

    private static async Task<JsonNode?> ReadResultAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await EnsureSuccessAsync(response, cancellationToken);
        var json = await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken);
        return json?["result"];
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var message = $"Qdrant {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery} answered {(int)response.StatusCode}: {body}";
        throw response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.UnprocessableEntity
            ? new ArgumentException(message)
            : new HttpRequestException(message, null, response.StatusCode);
    }
}
