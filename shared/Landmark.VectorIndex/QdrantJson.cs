using System.Text.Json;
using System.Text.Json.Serialization;

namespace Landmark.VectorIndex;

// Request and response bodies of Qdrant's REST API (https://api.qdrant.tech/api-reference), as far as this adapter uses them.
// Property names follow Qdrant's snake_case through the source-generated context below.

/// <summary>Qdrant's response envelope: <c>{"result": ..., "status": "ok", "time": 0.001}</c>, or
/// <c>{"status": {"error": "..."}, "time": ...}</c> on failure.</summary>
internal sealed record QdrantResponse<T>(T? Result, JsonElement Status, double? Time);

/// <summary><c>PUT /collections/{name}</c></summary>
internal sealed record QdrantCreateCollection(QdrantVectorParams Vectors, QdrantHnswConfig HnswConfig);

internal sealed record QdrantVectorParams(int Size, string Distance);

internal sealed record QdrantHnswConfig(int M, int EfConstruct);

/// <summary>Result of <c>GET /collections/{name}</c> (only the vector parameters are read).</summary>
internal sealed record QdrantCollectionInfo(QdrantCollectionConfig? Config);

internal sealed record QdrantCollectionConfig(QdrantCollectionParams? Params);

/// <summary><c>vectors</c> is <c>{"size":..,"distance":..}</c> for a single unnamed vector, or a map of named vectors.</summary>
internal sealed record QdrantCollectionParams(JsonElement Vectors);

/// <summary>Result of <c>GET /collections</c>.</summary>
internal sealed record QdrantCollectionList(IReadOnlyList<QdrantCollectionName> Collections);

internal sealed record QdrantCollectionName(string Name);

/// <summary><c>PUT /collections/{name}/points</c></summary>
internal sealed record QdrantUpsert(IReadOnlyList<QdrantPoint> Points);

internal sealed record QdrantPoint(Guid Id, float[] Vector, IReadOnlyDictionary<string, string> Payload);

/// <summary>Result of an update: <c>{"operation_id": 1, "status": "completed"}</c>.</summary>
internal sealed record QdrantUpdateResult(long? OperationId, string? Status);

/// <summary><c>POST /collections/{name}/points/delete</c></summary>
internal sealed record QdrantDeletePoints(IReadOnlyList<Guid> Points);

/// <summary><c>POST /collections/{name}/points</c> (retrieve by id).</summary>
internal sealed record QdrantRetrieve(IReadOnlyList<Guid> Ids, bool WithPayload, bool WithVector);

/// <summary>One retrieved point (<c>vector</c> is an array for a single unnamed vector).</summary>
internal sealed record QdrantRecord(JsonElement Id, Dictionary<string, JsonElement>? Payload, float[]? Vector);

/// <summary><c>POST /collections/{name}/points/search/batch</c></summary>
internal sealed record QdrantSearchBatch(IReadOnlyList<QdrantSearch> Searches);

internal sealed record QdrantSearch(float[] Vector, int Limit, QdrantFilter? Filter, bool WithPayload, QdrantSearchParams Params);

internal sealed record QdrantSearchParams(int HnswEf);

internal sealed record QdrantScoredPoint(JsonElement Id, long? Version, float Score, Dictionary<string, JsonElement>? Payload);

/// <summary><c>{"must": [{"key": k, "match": {"value": v}}, ...]}</c></summary>
internal sealed record QdrantFilter(IReadOnlyList<QdrantFieldCondition> Must);

internal sealed record QdrantFieldCondition(string Key, QdrantMatch Match);

internal sealed record QdrantMatch(string Value);

/// <summary><c>POST /collections/{name}/points/count</c></summary>
internal sealed record QdrantCount(QdrantFilter? Filter, bool Exact);

internal sealed record QdrantCountResult(long Count);

/// <summary><c>POST /collections/aliases</c>: the actions are applied together.</summary>
internal sealed record QdrantChangeAliases(IReadOnlyList<QdrantAliasAction> Actions);

/// <summary>Exactly one of the two is set: <c>{"delete_alias": {...}}</c> or <c>{"create_alias": {...}}</c>.</summary>
internal sealed record QdrantAliasAction(QdrantDeleteAlias? DeleteAlias = null, QdrantCreateAlias? CreateAlias = null);

internal sealed record QdrantDeleteAlias(string AliasName);

internal sealed record QdrantCreateAlias(string CollectionName, string AliasName);

/// <summary>Result of <c>GET /aliases</c>.</summary>
internal sealed record QdrantAliasList(IReadOnlyList<QdrantAlias> Aliases);

internal sealed record QdrantAlias(string AliasName, string CollectionName);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(QdrantCreateCollection))]
[JsonSerializable(typeof(QdrantUpsert))]
[JsonSerializable(typeof(QdrantDeletePoints))]
[JsonSerializable(typeof(QdrantRetrieve))]
[JsonSerializable(typeof(QdrantSearchBatch))]
[JsonSerializable(typeof(QdrantCount))]
[JsonSerializable(typeof(QdrantChangeAliases))]
[JsonSerializable(typeof(QdrantResponse<bool>))]
[JsonSerializable(typeof(QdrantResponse<QdrantCollectionInfo>))]
[JsonSerializable(typeof(QdrantResponse<QdrantCollectionList>))]
[JsonSerializable(typeof(QdrantResponse<QdrantUpdateResult>))]
[JsonSerializable(typeof(QdrantResponse<List<QdrantRecord>>))]
[JsonSerializable(typeof(QdrantResponse<List<List<QdrantScoredPoint>>>))]
[JsonSerializable(typeof(QdrantResponse<QdrantCountResult>))]
[JsonSerializable(typeof(QdrantResponse<QdrantAliasList>))]
[JsonSerializable(typeof(QdrantResponse<JsonElement>))]
internal sealed partial class QdrantJsonContext : JsonSerializerContext;
