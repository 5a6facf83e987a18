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

    /// <summary>Element type of the graph's vector copy: <see cref="HnswQuantization.I8"/> uses a quarter of the memory of F32.</summary>
    public HnswQuantization Quantization { get; set; } = HnswQuantization.F32;

    /// <summary>Candidates fetched from the graph per result wanted; they are re-scored exactly and the best kept.</summary>
    [Range(1, 16)]
    public int Oversampling { get; set; } = 2;

    /// <summary>
    /// With a payload filter matching less than this fraction of the collection, the search scans the matching points
    /// exactly instead of walking the graph (a graph walk over mostly rejected points is slower than the scan).
    /// </summary>
    [Range(0.0, 1.0)]
    public double FilteredScanBelowFraction { get; set; } = 0.05;
}

/// <summary>Settings of <see cref="QdrantVectorIndex"/> (section <c>Landmark:Index:Qdrant</c>).</summary>
public sealed class QdrantOptions
{
    /// <summary>REST endpoint, e.g. <c>http://qdrant:6333</c>. Required (absolute http/https URL) when the provider is Qdrant.</summary>
    public string Url { get; set; } = "http://localhost:6333";

    /// <summary>Sent as the <c>api-key</c> header when set.</summary>
    public string? ApiKey { get; set; }

    /// <summary>HNSW graph degree for new collections (<c>hnsw_config.m</c>).</summary>
    [Range(1, 512)]
    public int HnswM { get; set; } = 16;

    /// <summary>HNSW build-time candidate list size for new collections (<c>hnsw_config.ef_construct</c>).</summary>
    [Range(4, 4096)]
    public int HnswEfConstruct { get; set; } = 128;

    /// <summary>Search-time ef (<c>params.hnsw_ef</c>; higher = more exact, slower).</summary>
    [Range(1, 4096)]
    public int SearchEf { get; set; } = 128;

    /// <summary>Points per <c>PUT /collections/{name}/points</c> request.</summary>
    [Range(1, 10000)]
    public int UpsertBatchSize { get; set; } = 256;

    /// <summary>Timeout of one HTTP attempt; retries of the resilience handler get three times this in total.</summary>
    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>True when <see cref="Url"/> is an absolute http(s) URL.</summary>
    public bool HasValidUrl() =>
        Uri.TryCreate(Url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
