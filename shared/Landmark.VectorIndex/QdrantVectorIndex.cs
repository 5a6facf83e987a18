using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>
/// <see cref="IVectorIndex"/> on a Qdrant server, through its documented REST API (no client package is used).
/// <list type="bullet">
/// <item>Collections use cosine distance and the configured HNSW settings (<c>m</c>, <c>ef_construct</c>); searches send
/// <c>params.hnsw_ef</c>.</item>
/// <item>Qdrant point ids must be unsigned integers or UUIDs, so string ids map to deterministic UUIDs
/// (<see cref="PointId"/>); the original id travels in the payload key <see cref="IdKey"/> and is stripped from the
/// payload returned to callers.</item>
/// <item>Aliases are switched with one <c>POST /collections/aliases</c> carrying both a <c>delete_alias</c> and a
/// <c>create_alias</c> action, which Qdrant applies atomically.</item>
/// <item>The <c>api-key</c> header is sent when <see cref="QdrantOptions.ApiKey"/> is set. Retries, timeouts and circuit
/// breaking come from the standard resilience handler on the named client <see cref="HttpClientName"/>
/// (see <see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/>).</item>
/// </list>
/// Errors: a missing collection raises <see cref="CollectionNotFoundException"/>; a request Qdrant rejects (400/422,
/// e.g. a dimension mismatch) raises <see cref="ArgumentException"/> with Qdrant's message; anything else
/// <see cref="HttpRequestException"/>.
/// </summary>
public sealed class QdrantVectorIndex : IVectorIndex
{
    /// <summary>Name of the <see cref="HttpClient"/> taken from <see cref="IHttpClientFactory"/>.</summary>
    public const string HttpClientName = "qdrant";

    /// <summary>Payload key holding the caller's id.</summary>
    public const string IdKey = "_id";

    /// <summary>Header carrying <see cref="QdrantOptions.ApiKey"/>.</summary>
    public const string ApiKeyHeader = "api-key";

    private const string CosineDistance = "Cosine";

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly QdrantOptions _options;
    private readonly Uri _baseUri;
    private readonly ILogger _logger;

    public QdrantVectorIndex(IHttpClientFactory httpClientFactory, IOptions<VectorIndexOptions> options, ILogger<QdrantVectorIndex>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClientFactory);
        _httpClientFactory = httpClientFactory;
        _options = options.Value.Qdrant;
        if (!_options.HasValidUrl())
        {
            throw new ArgumentException($"Qdrant URL '{_options.Url}' is not an absolute http(s) URL.", nameof(options));
        }
        _baseUri = new Uri(_options.Url.TrimEnd('/') + "/");
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// The Qdrant point id of a string id: the first 16 bytes of its UTF-8 SHA-256, with the RFC 4122 variant bits and
    /// version nibble 5 (name-based) set. Stable across processes and releases.
    /// </summary>
    public static Guid PointId(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), hash);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>Qdrant's filter for <paramref name="filter"/>: every key must match its value; null when there is nothing to match.</summary>
    internal static QdrantFilter? ToQdrant(PayloadFilter? filter) =>
        filter is null || filter.MustEqual.Count == 0
            ? null
            : new QdrantFilter(filter.MustEqual.Select(kv => new QdrantFieldCondition(kv.Key, new QdrantMatch(kv.Value))).ToList());

    public async Task EnsureCollectionAsync(string collection, int dimension, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (await GetDimensionAsync(collection, cancellationToken) is { } existing)
        {
            CheckDimension(collection, existing, dimension);
            return;
        }
        var body = new QdrantCreateCollection(new QdrantVectorParams(dimension, CosineDistance), new QdrantHnswConfig(_options.HnswM, _options.HnswEfConstruct));
        using var response = await SendAsync(HttpMethod.Put, CollectionPath(collection), Json(body, QdrantJsonContext.Default.QdrantCreateCollection), cancellationToken);
        if (response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.BadRequest
            && (await ErrorTextAsync(response, cancellationToken)).Contains("already exists", StringComparison.OrdinalIgnoreCase))
        {
            // Created concurrently by someone else: it must still have our dimension.
            var concurrent = await GetDimensionAsync(collection, cancellationToken) ?? throw new InvalidOperationException(
                $"Qdrant reported collection '{collection}' as existing but does not return it.");
            CheckDimension(collection, concurrent, dimension);
            return;
        }
        await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseBoolean, collection, cancellationToken);
        _logger.LogInformation("Qdrant collection {Collection} created ({Dimension} dimensions, cosine, m={M}, ef_construct={EfConstruct})",
            collection, dimension, _options.HnswM, _options.HnswEfConstruct);
    }

    public async Task<bool> CollectionExistsAsync(string collection, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, CollectionPath(collection), null, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return await ResolveAliasAsync(collection, cancellationToken) is not null;
        }
        await EnsureSuccessAsync(response, collection, cancellationToken);
        return true;
    }

    public async Task DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, CollectionPath(collection), null, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, collection, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "collections", null, cancellationToken);
        var result = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantCollectionList, null, cancellationToken);
        return result?.Collections.Select(c => c.Name).Order(StringComparer.Ordinal).ToList() ?? [];
    }

    public async Task UpsertAsync(string collection, IReadOnlyList<VectorPoint> points, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(points);
        var converted = points.Select(ToQdrant).ToList();
        foreach (var batch in converted.Chunk(_options.UpsertBatchSize))
        {
            using var response = await SendAsync(HttpMethod.Put, CollectionPath(collection, "points?wait=true"),
                Json(new QdrantUpsert(batch), QdrantJsonContext.Default.QdrantUpsert), cancellationToken);
            await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantUpdateResult, collection, cancellationToken);
        }
    }

    public async Task DeleteAsync(string collection, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (var batch in ids.Select(PointId).Chunk(_options.UpsertBatchSize))
        {
            using var response = await SendAsync(HttpMethod.Post, CollectionPath(collection, "points/delete?wait=true"),
                Json(new QdrantDeletePoints(batch), QdrantJsonContext.Default.QdrantDeletePoints), cancellationToken);
            await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantUpdateResult, collection, cancellationToken);
        }
    }

    public async Task<VectorPoint?> GetAsync(string collection, string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        using var response = await SendAsync(HttpMethod.Post, CollectionPath(collection, "points"),
            Json(new QdrantRetrieve([PointId(id)], WithPayload: true, WithVector: true), QdrantJsonContext.Default.QdrantRetrieve), cancellationToken);
        var result = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseListQdrantRecord, collection, cancellationToken);
        if (result is not { Count: > 0 })
        {
            return null;
        }
        var record = result[0];
        var (originalId, payload) = FromQdrant(record.Payload);
        return new VectorPoint(originalId ?? id, record.Vector ?? [], payload);
    }

    public async Task<IReadOnlyList<IReadOnlyList<SearchHit>>> SearchAsync(string collection, IReadOnlyList<float[]> queries, int limit,
        PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (queries.Count == 0)
        {
            return [];
        }
        var qdrantFilter = ToQdrant(filter);
        var searchParams = new QdrantSearchParams(_options.SearchEf);
        var searches = queries.Select((q, i) =>
        {
            CheckVector(q, $"Query {i}");
            return new QdrantSearch(q, limit, qdrantFilter, WithPayload: true, searchParams);
        }).ToList();
        using var response = await SendAsync(HttpMethod.Post, CollectionPath(collection, "points/search/batch"),
            Json(new QdrantSearchBatch(searches), QdrantJsonContext.Default.QdrantSearchBatch), cancellationToken);
        var result = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseListListQdrantScoredPoint, collection, cancellationToken)
            ?? throw new InvalidDataException("Qdrant answered a batch search without a result.");
        if (result.Count != queries.Count)
        {
            throw new InvalidDataException($"Qdrant answered {result.Count} result lists for {queries.Count} queries.");
        }
        return result.Select(hits => (IReadOnlyList<SearchHit>)hits.Select(hit =>
        {
            var (originalId, payload) = FromQdrant(hit.Payload);
            return new SearchHit(originalId ?? IdText(hit.Id), hit.Score, payload);
        }).ToList()).ToList();
    }

    public async Task<long> CountAsync(string collection, PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Post, CollectionPath(collection, "points/count"),
            Json(new QdrantCount(ToQdrant(filter), Exact: true), QdrantJsonContext.Default.QdrantCount), cancellationToken);
        var result = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantCountResult, collection, cancellationToken);
        return result?.Count ?? throw new InvalidDataException("Qdrant answered a count without a result.");
    }

    public async Task SetAliasAsync(string alias, string collection, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(alias);
        ArgumentException.ThrowIfNullOrEmpty(collection);
        // One request: Qdrant applies the actions together, so searches through the alias never see it missing.
        // Deleting an alias that does not exist is a no-op in Qdrant, so this also creates a new alias.
        var body = new QdrantChangeAliases(
        [
            new QdrantAliasAction(DeleteAlias: new QdrantDeleteAlias(alias)),
            new QdrantAliasAction(CreateAlias: new QdrantCreateAlias(collection, alias)),
        ]);
        using var response = await SendAsync(HttpMethod.Post, "collections/aliases", Json(body, QdrantJsonContext.Default.QdrantChangeAliases), cancellationToken);
        await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseBoolean, collection, cancellationToken);
        _logger.LogInformation("Qdrant alias {Alias} now points at {Collection}", alias, collection);
    }

    public async Task<string?> ResolveAliasAsync(string alias, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "aliases", null, cancellationToken);
        var result = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantAliasList, null, cancellationToken);
        return result?.Aliases.FirstOrDefault(a => a.AliasName == alias)?.CollectionName;
    }

    private async Task<int?> GetDimensionAsync(string collection, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, CollectionPath(collection), null, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        var info = await ReadResultAsync(response, QdrantJsonContext.Default.QdrantResponseQdrantCollectionInfo, collection, cancellationToken);
        var vectors = info?.Config?.Params?.Vectors;
        if (vectors is { ValueKind: JsonValueKind.Object } v && v.TryGetProperty("size", out var size) && size.TryGetInt32(out var dimension))
        {
            return dimension;
        }
        throw new InvalidOperationException($"Qdrant collection '{collection}' does not hold a single unnamed vector per point; it was not created by this index.");
    }

    private static void CheckDimension(string collection, int existing, int wanted)
    {
        if (existing != wanted)
        {
            throw new ArgumentException(
                $"Collection '{collection}' already exists with {existing}-dimensional vectors; {wanted} dimensions were asked for.", "dimension");
        }
    }

    private static QdrantPoint ToQdrant(VectorPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (string.IsNullOrEmpty(point.Id))
        {
            throw new ArgumentException("Point ids must not be empty.", nameof(point));
        }
        CheckVector(point.Vector, $"Point '{point.Id}'");
        var payload = new Dictionary<string, string>(StringComparer.Ordinal) { [IdKey] = point.Id };
        foreach (var (key, value) in point.Payload ?? new Dictionary<string, string>())
        {
            if (!payload.TryAdd(key, value))
            {
                throw new ArgumentException($"Point '{point.Id}': payload key '{IdKey}' is reserved for the point id.", nameof(point));
            }
        }
        return new QdrantPoint(PointId(point.Id), point.Vector, payload);
    }

    /// <summary>Same rule as the embedded index: cosine similarity needs a finite, non-zero vector.</summary>
    private static void CheckVector(float[] vector, string what)
    {
        ArgumentNullException.ThrowIfNull(vector);
        var norm = TensorPrimitives.Norm(vector);
        if (vector.Length == 0 || !float.IsFinite(norm) || norm == 0)
        {
            throw new ArgumentException($"{what} must have a finite, non-zero length (cosine similarity is undefined otherwise).");
        }
    }

    private static (string? Id, IReadOnlyDictionary<string, string> Payload) FromQdrant(Dictionary<string, JsonElement>? payload)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string? id = null;
        foreach (var (key, value) in payload ?? [])
        {
            var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
            if (key == IdKey)
            {
                id = text;
            }
            else
            {
                result[key] = text;
            }
        }
        return (id, result);
    }

    private static string IdText(JsonElement id) => id.ValueKind == JsonValueKind.String ? id.GetString()! : id.GetRawText();

    private static string CollectionPath(string collection, string? rest = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        var path = "collections/" + Uri.EscapeDataString(collection);
        return rest is null ? path : path + "/" + rest;
    }

    private static JsonContent Json<T>(T body, JsonTypeInfo<T> typeInfo) => JsonContent.Create(body, typeInfo);

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUri, path)) { Content = content };
        if (!string.IsNullOrEmpty(_options.ApiKey))
        {
            request.Headers.TryAddWithoutValidation(ApiKeyHeader, _options.ApiKey);
        }
        var started = Stopwatch.GetTimestamp();
        var response = await _httpClientFactory.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        _logger.LogDebug("Qdrant {Method} {Path}: {Status} in {Elapsed:F1} ms", method, path, (int)response.StatusCode,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return response;
    }

    private static async Task<T?> ReadResultAsync<T>(HttpResponseMessage response, JsonTypeInfo<QdrantResponse<T>> typeInfo, string? collection,
        CancellationToken cancellationToken)
    {
        await EnsureSuccessAsync(response, collection, cancellationToken);
        var envelope = await response.Content.ReadFromJsonAsync(typeInfo, cancellationToken);
        return envelope is null ? default : envelope.Result;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string? collection, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var error = await ErrorTextAsync(response, cancellationToken);
        var request = $"Qdrant {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath} answered {(int)response.StatusCode}: {error}";
        throw response.StatusCode switch
        {
            HttpStatusCode.NotFound when collection is not null => new CollectionNotFoundException(collection, request),
            HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.UnprocessableEntity or HttpStatusCode.Conflict => new ArgumentException(request),
            _ => new HttpRequestException(request, null, response.StatusCode),
        };
    }

    /// <summary>Qdrant's <c>status.error</c> text, or the raw body when it is not in that shape.</summary>
    private static async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("status", out var status)
                && status.ValueKind == JsonValueKind.Object
                && status.TryGetProperty("error", out var error))
            {
                return error.ToString();
            }
        }
        catch (JsonException)
        {
        }
        return body;
    }
}
