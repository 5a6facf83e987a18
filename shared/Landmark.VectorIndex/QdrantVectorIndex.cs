using System.Globalization;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Qdrant.Client;
using Qdrant.Client.Grpc;
using static Qdrant.Client.Grpc.Conditions;

namespace Landmark.VectorIndex;

/// <summary>
/// <see cref="IVectorIndex"/> on a Qdrant server through the official client (<see cref="IQdrantClient"/>, gRPC on port
/// 6334; the connection is built by <see cref="QdrantConnection"/>).
/// <list type="bullet">
/// <item>Collections use cosine distance and the configured HNSW, on-disk, quantization and sharding settings
/// (<see cref="QdrantOptions"/>), applied when the collection is created; searches send <c>hnsw_ef</c> and, with
/// quantization, rescoring and oversampling.</item>
/// <item>Qdrant point ids must be unsigned integers or UUIDs, so string ids map to deterministic UUIDs
/// (<see cref="PointId"/>); the original id travels in the payload key <see cref="IdKey"/> and is stripped from the
/// payload returned to callers.</item>
/// <item>Several queries go in one <c>QueryBatch</c> call (the batch search of Qdrant's universal query API).</item>
/// <item>Aliases are switched with one <c>UpdateAliases</c> call carrying a delete and a create operation, which Qdrant
/// applies atomically.</item>
/// </list>
/// Errors: a missing collection (gRPC <c>NOT_FOUND</c>) raises <see cref="CollectionNotFoundException"/>; a request Qdrant
/// rejects (<c>INVALID_ARGUMENT</c>, <c>ALREADY_EXISTS</c>, <c>FAILED_PRECONDITION</c>, <c>OUT_OF_RANGE</c>, e.g. a
/// dimension mismatch) raises <see cref="ArgumentException"/> with Qdrant's message; anything else is the client's
/// <see cref="RpcException"/> (e.g. <c>UNAVAILABLE</c> once the retries are spent). Cancellation raises
/// <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class QdrantVectorIndex : IVectorIndex
{
    /// <summary>Payload key holding the caller's id.</summary>
    public const string IdKey = "_id";

    private readonly IQdrantClient _client;
    private readonly QdrantOptions _options;
    private readonly ILogger _logger;

    public QdrantVectorIndex(IQdrantClient client, IOptions<VectorIndexOptions> options, ILogger<QdrantVectorIndex>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        _options = options.Value.Qdrant;
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

    /// <summary>Qdrant's filter for <paramref name="filter"/>: every key must match its value (keyword match); null when
    /// there is nothing to match.</summary>
    internal static Filter? ToQdrant(PayloadFilter? filter)
    {
        if (filter is null || filter.MustEqual.Count == 0)
        {
            return null;
        }
        var result = new Filter();
        foreach (var (key, value) in filter.MustEqual)
        {
            result.Must.Add(MatchKeyword(key, value));
        }
        return result;
    }

    /// <summary>The request that creates <paramref name="collection"/> with the configured settings; fields left unset
    /// take Qdrant's defaults. On-disk storage and in-RAM quantized vectors are asked for with the <c>on_disk</c> /
    /// <c>always_ram</c> flags, which Qdrant 1.20 deprecates in favour of <c>memory</c> but still honours, and which
    /// older servers (that ignore the unknown <c>memory</c> field) understand too.</summary>
#pragma warning disable CS0612 // on_disk / always_ram: see above.
    internal CreateCollection CreateCollectionRequest(string collection, int dimension)
    {
        var vectors = new VectorParams { Size = (ulong)dimension, Distance = Distance.Cosine };
        if (_options.OnDiskVectors)
        {
            vectors.OnDisk = true;
        }
        var hnsw = new HnswConfigDiff { M = (ulong)_options.HnswM, EfConstruct = (ulong)_options.HnswEfConstruct };
        if (_options.HnswOnDisk)
        {
            hnsw.OnDisk = true;
        }
        var request = new CreateCollection
        {
            CollectionName = collection,
            VectorsConfig = new VectorsConfig { Params = vectors },
            HnswConfig = hnsw,
        };
        if (_options.Quantization == QdrantQuantization.Int8)
        {
            var scalar = new ScalarQuantization { Type = QuantizationType.Int8, AlwaysRam = _options.QuantizationAlwaysRam };
            if (_options.QuantizationQuantile is { } quantile)
            {
                scalar.Quantile = (float)quantile;
            }
            request.QuantizationConfig = new QuantizationConfig { Scalar = scalar };
        }
        if (_options.ShardNumber is { } shards)
        {
            request.ShardNumber = (uint)shards;
        }
        if (_options.ReplicationFactor is { } replicas)
        {
            request.ReplicationFactor = (uint)replicas;
        }
        if (_options.WriteConsistencyFactor is { } writeConsistency)
        {
            request.WriteConsistencyFactor = (uint)writeConsistency;
        }
        return request;
    }
#pragma warning restore CS0612

    /// <summary>Search parameters: <c>hnsw_ef</c>, plus rescoring and oversampling when collections are quantized.</summary>
    internal SearchParams SearchParameters()
    {
        var parameters = new SearchParams { HnswEf = (ulong)_options.SearchEf };
        if (_options.Quantization != QdrantQuantization.None)
        {
            parameters.Quantization = new QuantizationSearchParams { Rescore = _options.Rescore, Oversampling = _options.Oversampling };
        }
        return parameters;
    }

    public async Task EnsureCollectionAsync(string collection, int dimension, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (await GetDimensionAsync(collection, cancellationToken) is { } existing)
        {
            CheckDimension(collection, existing, dimension);
            return;
        }
        try
        {
            await _client.CreateCollectionAsync(CreateCollectionRequest(collection, dimension), cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists
            || (e.StatusCode == StatusCode.InvalidArgument && e.Status.Detail.Contains("already exists", StringComparison.OrdinalIgnoreCase)))
        {
            // Created concurrently by someone else: it must still have our dimension.
            var concurrent = await GetDimensionAsync(collection, cancellationToken) ?? throw new InvalidOperationException(
                $"Qdrant reported collection '{collection}' as existing but does not return it.", e);
            CheckDimension(collection, concurrent, dimension);
            return;
        }
        catch (RpcException e) when (Translate(e, collection) is { } translated)
        {
            throw translated;
        }
        _logger.LogInformation(
            "Qdrant collection {Collection} created ({Dimension} dimensions, cosine, m={M}, ef_construct={EfConstruct}, quantization={Quantization}, on_disk={OnDisk}, shards={Shards}, replicas={Replicas})",
            collection, dimension, _options.HnswM, _options.HnswEfConstruct, _options.Quantization, _options.OnDiskVectors,
            _options.ShardNumber?.ToString(CultureInfo.InvariantCulture) ?? "default", _options.ReplicationFactor?.ToString(CultureInfo.InvariantCulture) ?? "default");
    }

    public async Task<bool> CollectionExistsAsync(string collection, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        var exists = await CallAsync(collection, () => _client.CollectionExistsAsync(collection, cancellationToken));
        return exists || await ResolveAliasAsync(collection, cancellationToken) is not null;
    }

    public async Task DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        try
        {
            await _client.DeleteCollectionAsync(collection, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Already gone.
        }
        catch (QdrantException)
        {
            // Qdrant answered "false": there was no such collection to delete.
        }
        catch (RpcException e) when (Translate(e, collection) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken = default)
    {
        var names = await CallAsync(null, () => _client.ListCollectionsAsync(cancellationToken));
        return names.Order(StringComparer.Ordinal).ToList();
    }

    public async Task UpsertAsync(string collection, IReadOnlyList<VectorPoint> points, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentNullException.ThrowIfNull(points);
        var converted = points.Select(ToQdrant).ToList();
        foreach (var batch in converted.Chunk(_options.UpsertBatchSize))
        {
            await CallAsync(collection, () => _client.UpsertAsync(collection, batch, wait: true, cancellationToken: cancellationToken));
        }
    }

    public async Task DeleteAsync(string collection, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentNullException.ThrowIfNull(ids);
        foreach (var batch in ids.Select(PointId).Chunk(_options.UpsertBatchSize))
        {
            await CallAsync(collection, () => _client.DeleteAsync(collection, batch, wait: true, cancellationToken: cancellationToken));
        }
    }

    public async Task<VectorPoint?> GetAsync(string collection, string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentNullException.ThrowIfNull(id);
        var result = await CallAsync(collection,
            () => _client.RetrieveAsync(collection, PointId(id), withPayload: true, withVectors: true, cancellationToken: cancellationToken));
        if (result is not { Count: > 0 })
        {
            return null;
        }
        var record = result[0];
        var (originalId, payload) = FromQdrant(record.Payload);
        var vector = record.Vectors?.Vector?.GetDenseVector()?.Data.ToArray() ?? [];
        return new VectorPoint(originalId ?? id, vector, payload);
    }

    public async Task<IReadOnlyList<IReadOnlyList<SearchHit>>> SearchAsync(string collection, IReadOnlyList<float[]> queries, int limit,
        PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (queries.Count == 0)
        {
            return [];
        }
        var qdrantFilter = ToQdrant(filter);
        var searchParams = SearchParameters();
        var searches = queries.Select((q, i) =>
        {
            CheckVector(q, $"Query {i}");
            var search = new QueryPoints
            {
                CollectionName = collection,
                Query = q,
                Limit = (ulong)limit,
                WithPayload = new WithPayloadSelector { Enable = true },
                Params = searchParams,
            };
            if (qdrantFilter is not null)
            {
                search.Filter = qdrantFilter;
            }
            return search;
        }).ToList();
        var result = await CallAsync(collection, () => _client.QueryBatchAsync(collection, searches, cancellationToken: cancellationToken))
            ?? throw new InvalidDataException("Qdrant answered a batch search without a result.");
        if (result.Count != queries.Count)
        {
            throw new InvalidDataException($"Qdrant answered {result.Count} result lists for {queries.Count} queries.");
        }
        return result.Select(batch => (IReadOnlyList<SearchHit>)batch.Result.Select(hit =>
        {
            var (originalId, payload) = FromQdrant(hit.Payload);
            return new SearchHit(originalId ?? IdText(hit.Id), hit.Score, payload);
        }).ToList()).ToList();
    }

    public async Task<long> CountAsync(string collection, PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(collection);
        var count = await CallAsync(collection, () => _client.CountAsync(collection, ToQdrant(filter), exact: true, cancellationToken: cancellationToken));
        return checked((long)count);
    }

    public async Task SetAliasAsync(string alias, string collection, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(alias);
        ArgumentException.ThrowIfNullOrEmpty(collection);
        // One call: Qdrant applies the operations together, so searches through the alias never see it missing. The
        // delete is sent only when the alias exists (a new alias is just created).
        var current = await ResolveAliasAsync(alias, cancellationToken);
        var operations = new List<AliasOperations>();
        if (current is not null)
        {
            operations.Add(new AliasOperations { DeleteAlias = new DeleteAlias { AliasName = alias } });
        }
        operations.Add(new AliasOperations { CreateAlias = new CreateAlias { CollectionName = collection, AliasName = alias } });
        await CallAsync(collection, () => _client.UpdateAliasesAsync(operations, cancellationToken: cancellationToken));
        _logger.LogInformation("Qdrant alias {Alias} now points at {Collection} (was {Previous})", alias, collection, current ?? "unset");
    }

    public async Task<string?> ResolveAliasAsync(string alias, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(alias);
        var aliases = await CallAsync(null, () => _client.ListAliasesAsync(cancellationToken));
        return aliases.FirstOrDefault(a => a.AliasName == alias)?.CollectionName;
    }

    /// <summary>The vector size of an existing collection, or null when it does not exist.</summary>
    private async Task<int?> GetDimensionAsync(string collection, CancellationToken cancellationToken)
    {
        CollectionInfo info;
        try
        {
            info = await _client.GetCollectionInfoAsync(collection, cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e) when (Translate(e, collection) is { } translated)
        {
            throw translated;
        }
        if (info?.Config?.Params?.VectorsConfig is { ConfigCase: VectorsConfig.ConfigOneofCase.Params } vectors)
        {
            return checked((int)vectors.Params.Size);
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

    private static PointStruct ToQdrant(VectorPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (string.IsNullOrEmpty(point.Id))
        {
            throw new ArgumentException("Point ids must not be empty.", nameof(point));
        }
        CheckVector(point.Vector, $"Point '{point.Id}'");
        var result = new PointStruct { Id = PointId(point.Id), Vectors = point.Vector };
        result.Payload[IdKey] = point.Id;
        foreach (var (key, value) in point.Payload ?? new Dictionary<string, string>())
        {
            if (key == IdKey)
            {
                throw new ArgumentException($"Point '{point.Id}': payload key '{IdKey}' is reserved for the point id.", nameof(point));
            }
            result.Payload[key] = value;
        }
        return result;
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

    private static (string? Id, IReadOnlyDictionary<string, string> Payload) FromQdrant(IDictionary<string, Value>? payload)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string? id = null;
        foreach (var (key, value) in payload ?? new Dictionary<string, Value>())
        {
            var text = Text(value);
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

    /// <summary>A payload value as text: strings as they are, other scalars as JSON would write them.</summary>
    private static string Text(Value value) => value.KindCase switch
    {
        Value.KindOneofCase.StringValue => value.StringValue,
        Value.KindOneofCase.IntegerValue => value.IntegerValue.ToString(CultureInfo.InvariantCulture),
        Value.KindOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        Value.KindOneofCase.NullValue or Value.KindOneofCase.None => "null",
        _ => value.ToString(),
    };

    private static string IdText(PointId id) =>
        id.PointIdOptionsCase == Qdrant.Client.Grpc.PointId.PointIdOptionsOneofCase.Uuid ? id.Uuid : id.Num.ToString(CultureInfo.InvariantCulture);

    /// <summary>Runs one client call and translates Qdrant's refusals (see the class remarks).</summary>
    private static async Task<T> CallAsync<T>(string? collection, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException e) when (Translate(e, collection) is { } translated)
        {
            throw translated;
        }
    }

    private static async Task CallAsync(string? collection, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (RpcException e) when (Translate(e, collection) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>The exception callers see for a gRPC error, or null to let the <see cref="RpcException"/> through.</summary>
    internal static Exception? Translate(RpcException error, string? collection)
    {
        var message = $"Qdrant answered {error.StatusCode}: {error.Status.Detail}";
        return error.StatusCode switch
        {
            StatusCode.NotFound when collection is not null => new CollectionNotFoundException(collection, error.Status.Detail),
            StatusCode.NotFound or StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition or StatusCode.OutOfRange =>
                new ArgumentException(message, error),
            _ => null,
        };
    }
}
