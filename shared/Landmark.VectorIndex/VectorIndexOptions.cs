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
