using System.ComponentModel.DataAnnotations;

namespace Landmark.VectorIndex;

/// <summary>Which <see cref="IVectorIndex"/> implementation <see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/> registers.</summary>
public enum VectorIndexProvider
{
    /// <summary>In-process exact search, persisted under <see cref="EmbeddedIndexOptions.Path"/>.</summary>
    Embedded,
    /// <summary>A Qdrant server.</summary>
    Qdrant,
}

/// <summary>Bound from configuration section <c>Landmark:Index</c>.</summary>
public sealed class VectorIndexOptions
{
    public const string SectionName = "Landmark:Index";

    public VectorIndexProvider Provider { get; set; } = VectorIndexProvider.Embedded;

    [Required]
    public EmbeddedIndexOptions Embedded { get; set; } = new();

    [Required]
    public QdrantOptions Qdrant { get; set; } = new();
}

/// <summary>Settings of <see cref="EmbeddedVectorIndex"/> (section <c>Landmark:Index:Embedded</c>).</summary>
public sealed class EmbeddedIndexOptions
{
    /// <summary>Directory holding one sub-directory per collection and <c>aliases.json</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Path { get; set; } = "data/index";

    /// <summary>
    /// A collection's write-ahead log is folded into a new snapshot once it is larger than both this many bytes and
    /// the current snapshot (so compaction costs stay linear in the data written).
    /// </summary>
    [Range(1024, long.MaxValue)]
    public long CompactionThresholdBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// How searches run: <see cref="EmbeddedSearchMode.Auto"/> (default) keeps an HNSW graph beside the vectors and
    /// searches it once a collection holds <see cref="HnswMinimumPoints"/> points, scanning exactly below that;
    /// <see cref="EmbeddedSearchMode.Exact"/> always scans (ground truth, no graph kept);
    /// <see cref="EmbeddedSearchMode.Hnsw"/> always searches the graph.
    /// </summary>
    public EmbeddedSearchMode Search { get; set; } = EmbeddedSearchMode.Auto;

    /// <summary>In <see cref="EmbeddedSearchMode.Auto"/>, collections smaller than this are scanned exactly (an exact scan
    /// of 20k × 512 vectors takes about 2 ms and has recall 1).</summary>
    [Range(0, int.MaxValue)]
    public int HnswMinimumPoints { get; set; } = 20_000;

    /// <summary>The HNSW graph's settings.</summary>
    [Required]
    public HnswOptions Hnsw { get; set; } = new();
}

/// <summary>Search strategy of <see cref="EmbeddedVectorIndex"/>.</summary>
public enum EmbeddedSearchMode
{
    /// <summary>HNSW for collections of at least <see cref="EmbeddedIndexOptions.HnswMinimumPoints"/> points, exact below.</summary>
    Auto,
    /// <summary>Exact scan only; no graph is built or stored.</summary>
    Exact,
    /// <summary>HNSW for every collection, whatever its size.</summary>
    Hnsw,
}

/// <summary>How the HNSW graph stores its copy of the vectors (candidates are always re-scored with the exact float32 vectors).</summary>
public enum HnswQuantization
{
    F32,
    BF16,
    F16,
    I8,
}

/// <summary>HNSW settings of the embedded index (section <c>Landmark:Index:Embedded:Hnsw</c>), as in hnswlib and Qdrant.</summary>
public sealed class HnswOptions
{
    /// <summary>Graph degree (hnswlib's <c>M</c>, Qdrant's <c>m</c>): more = better recall, more memory, slower inserts.</summary>
    [Range(4, 128)]
    public int M { get; set; } = 16;

    /// <summary>Candidate list size while inserting (<c>ef_construction</c>).</summary>
    [Range(8, 4096)]
    public int EfConstruction { get; set; } = 128;

    /// <summary>Candidate list size while searching (<c>ef</c>); raised to the number of candidates asked for when that is larger.</summary>
    [Range(8, 4096)]
    public int EfSearch { get; set; } = 64;

    /// <summary>
    /// Element type of the graph's own vector copy. <see cref="HnswQuantization.I8"/> (default) takes a quarter of the
    /// memory of F32 and walks the graph faster; every vector is scaled by one factor (±6/sqrt(d) → ±127, larger
    /// components clip in the graph's copy only) and rounded, and the candidates are re-scored against the float32
    /// vectors. With <see cref="Oversampling"/> 3 recall@10 is 0.958 on 1 M clustered 512-d vectors at ef 64, as
    /// hnswlib's float32 graph (<c>make bench-index</c>, <c>--sweep</c>). Changing it rebuilds a saved graph at the next open.
    /// </summary>
    public HnswQuantization Quantization { get; set; } = HnswQuantization.I8;

    /// <summary>Candidates fetched from the graph per result wanted; they are re-scored exactly and the best kept.</summary>
    [Range(1, 16)]
    public int Oversampling { get; set; } = 3;

    /// <summary>
    /// Moves the graph's memory onto 2 MiB transparent huge pages after it is loaded, built or compacted (Linux 6.1+,
    /// <c>madvise(MADV_COLLAPSE)</c> on blocks already in memory, so nothing grows). A graph walk at 1 M points misses the
    /// TLB on nearly every vector it reads otherwise. Off, or where the kernel cannot, the graph stays on 4 KiB pages.
    /// </summary>
    public bool HugePages { get; set; } = true;

    /// <summary>
    /// With a payload filter matching less than this fraction of the collection, the search scans the matching points
    /// exactly instead of walking the graph (a graph walk over mostly rejected points is slower than the scan).
    /// </summary>
    [Range(0.0, 1.0)]
    public double FilteredScanBelowFraction { get; set; } = 0.05;
}

/// <summary>How a Qdrant collection compresses the vectors it searches (<c>quantization_config</c>).</summary>
public enum QdrantQuantization
{
    /// <summary>No quantization: the HNSW search reads the float32 vectors (Qdrant's default).</summary>
    None,
    /// <summary>Scalar int8 quantization: a quarter of the vector memory; candidates are re-scored with the float32 vectors
    /// (<see cref="QdrantOptions.Rescore"/>, <see cref="QdrantOptions.Oversampling"/>).</summary>
    Int8,
}

/// <summary>
/// Settings of <see cref="QdrantVectorIndex"/> (section <c>Landmark:Index:Qdrant</c>). The collection settings (HNSW,
/// on-disk storage, quantization, shards and replicas) apply when the adapter creates a collection; existing collections
/// keep theirs. The defaults create what Qdrant creates by default (in-RAM float32 vectors, one shard, one replica).
/// </summary>
public sealed class QdrantOptions
{
    /// <summary>Qdrant's REST port. The adapter speaks gRPC, which Qdrant serves on <see cref="DefaultGrpcPort"/>.</summary>
    public const int RestPort = 6333;

    /// <summary>Qdrant's gRPC port.</summary>
    public const int DefaultGrpcPort = 6334;

    /// <summary>
    /// gRPC endpoint, e.g. <c>http://qdrant:6334</c> (<c>https://</c> for TLS; without a port, 6334). Required (absolute
    /// http/https URL, not the REST port 6333) when the provider is Qdrant.
    /// </summary>
    public string Url { get; set; } = "http://localhost:6334";

    /// <summary>Sent as the <c>api-key</c> metadata of every call when set.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Deadline of one call, retries included.</summary>
    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>Attempts per call when Qdrant is unavailable (gRPC <c>UNAVAILABLE</c>); 1 disables retries. Every
    /// operation the adapter sends is idempotent, so retrying is safe.</summary>
    [Range(1, 5)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>HNSW graph degree for new collections (<c>hnsw_config.m</c>).</summary>
    [Range(1, 512)]
    public int HnswM { get; set; } = 16;

    /// <summary>HNSW build-time candidate list size for new collections (<c>hnsw_config.ef_construct</c>).</summary>
    [Range(4, 4096)]
    public int HnswEfConstruct { get; set; } = 128;

    /// <summary>Keep the HNSW graph on disk (memory-mapped) instead of in RAM (<c>hnsw_config.on_disk</c>).</summary>
    public bool HnswOnDisk { get; set; }

    /// <summary>Search-time ef (<c>params.hnsw_ef</c>; higher = more exact, slower).</summary>
    [Range(1, 4096)]
    public int SearchEf { get; set; } = 128;

    /// <summary>Store the float32 vectors of new collections on disk, memory-mapped (<c>vectors.on_disk</c>); with
    /// <see cref="QdrantQuantization.Int8"/> and <see cref="QuantizationAlwaysRam"/> the search still runs from RAM.</summary>
    public bool OnDiskVectors { get; set; }

    /// <summary>Quantization of new collections (<c>quantization_config</c>).</summary>
    public QdrantQuantization Quantization { get; set; } = QdrantQuantization.None;

    /// <summary>Quantile of the values that set the int8 range (<c>scalar.quantile</c>); unset = Qdrant's default (all values).</summary>
    [Range(0.5, 1.0)]
    public double? QuantizationQuantile { get; set; }

    /// <summary>Keep the quantized vectors in RAM even when the originals are on disk (<c>scalar.always_ram</c>).</summary>
    public bool QuantizationAlwaysRam { get; set; } = true;

    /// <summary>With quantization: re-score the candidates with the original vectors (<c>params.quantization.rescore</c>).</summary>
    public bool Rescore { get; set; } = true;

    /// <summary>With quantization: candidates fetched per result wanted before re-scoring (<c>params.quantization.oversampling</c>).</summary>
    [Range(1.0, 16.0)]
    public double Oversampling { get; set; } = 2.0;

    /// <summary>Shards of new collections (<c>shard_number</c>); unset = Qdrant's default (one per node in a cluster).</summary>
    [Range(1, 1024)]
    public int? ShardNumber { get; set; }

    /// <summary>Copies of each shard in a cluster (<c>replication_factor</c>); unset = Qdrant's default (1).</summary>
    [Range(1, 16)]
    public int? ReplicationFactor { get; set; }

    /// <summary>Replicas that must apply a write before it succeeds (<c>write_consistency_factor</c>), at most
    /// <see cref="ReplicationFactor"/>; unset = Qdrant's default (1).</summary>
    [Range(1, 16)]
    public int? WriteConsistencyFactor { get; set; }

    /// <summary>Points per upsert or delete call.</summary>
    [Range(1, 10000)]
    public int UpsertBatchSize { get; set; } = 256;

    /// <summary>True when <see cref="Url"/> is an absolute http(s) URL.</summary>
    public bool HasValidUrl() => TryGetEndpoint(out _);

    /// <summary><see cref="Url"/> as the gRPC address the client connects to: scheme, host and port (6334 when the URL
    /// names none); false when it is not an absolute http(s) URL.</summary>
    public bool TryGetEndpoint(out Uri endpoint)
    {
        endpoint = null!;
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            return false;
        }
        var port = uri.IsDefaultPort && !HasExplicitPort(Url) ? DefaultGrpcPort : uri.Port;
        endpoint = new UriBuilder(uri.Scheme, uri.Host, port).Uri;
        return true;
    }

    /// <summary>True when the URL's authority carries a port (so <c>http://q:80</c> keeps 80).</summary>
    private static bool HasExplicitPort(string url)
    {
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        var authority = end < 0 ? rest : rest[..end];
        var host = authority[(authority.LastIndexOf('@') + 1)..];
        return host.StartsWith('[') ? host.Contains("]:", StringComparison.Ordinal) : host.Contains(':');
    }
}
