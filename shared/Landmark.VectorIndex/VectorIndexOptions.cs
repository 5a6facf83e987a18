using System.ComponentModel.DataAnnotations;

namespace Landmark.VectorIndex;

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

    public EmbeddedIndexOptions Embedded { get; set; } = new();

    public QdrantOptions Qdrant { get; set; } = new();
}

public sealed class EmbeddedIndexOptions
{
    [Required]
    public string Path { get; set; } = "data/index";
}

public sealed class QdrantOptions
{
    /// <summary>REST endpoint, e.g. <c>http://qdrant:6333</c>.</summary>
    public string Url { get; set; } = "http://localhost:6333";

    /// <summary>Sent as the <c>api-key</c> header when set.</summary>
    public string? ApiKey { get; set; }

    [Range(1, 512)]
    public int HnswM { get; set; } = 16;

    [Range(4, 4096)]
    public int HnswEfConstruct { get; set; } = 128;

    /// <summary>Search-time ef (higher = more exact, slower).</summary>
    [Range(1, 4096)]
    public int SearchEf { get; set; } = 128;

    [Range(1, 10000)]
    public int UpsertBatchSize { get; set; } = 256;

    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;
}
