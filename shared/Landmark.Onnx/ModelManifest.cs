using Landmark.Recognition;

namespace Landmark.Onnx;

/// <summary>Describes an embedding model in the registry: what it expects and what it produces.</summary>
public sealed record ModelManifest
{
    /// <summary>Unique, content-derived version, e.g. <c>baseline-descriptor-v1-3fa2c1d0</c>.</summary>
    public required string Version { get; init; }

    /// <summary><see cref="KindBaseline"/>, <see cref="KindPretrained"/>, <see cref="KindTrained"/> or <see cref="KindImported"/>.</summary>
    public required string Kind { get; init; }

    public string Description { get; init; } = "";

    public string InputName { get; init; } = "images";

    public string OutputName { get; init; } = "embedding";

    /// <summary>Square input side in pixels.</summary>
    public required int InputSize { get; init; }

    public required int Dimension { get; init; }

    /// <summary>Per-channel mean subtracted from [0, 1] RGB before the model (empty = none).</summary>
    public float[] Mean { get; init; } = [];

    /// <summary>Per-channel standard deviation divided after the mean (empty = none).</summary>
    public float[] Std { get; init; } = [];

    public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;

    public Dictionary<string, double> Metrics { get; init; } = [];

    /// <summary>Scorer settings calibrated for this model's similarities; the scorer applies them to answers embedded by
    /// this model. Stored as a flat JSON object of numbers (manifests written with <c>TopK</c> still read).</summary>
    public ModelScorerSettings ScorerSettings { get; init; } = ModelScorerSettings.None;

    public const string KindBaseline = "baseline-descriptor";
    public const string KindPretrained = "pretrained";
    public const string KindTrained = "trained";
    public const string KindImported = "imported";

    /// <summary>Every kind a manifest is written with (the API maps each to its <c>ModelKind</c>).</summary>
    public static readonly IReadOnlyList<string> Kinds = [KindBaseline, KindPretrained, KindTrained, KindImported];
}

/// <summary>ONNX bytes with their manifest.</summary>
public sealed record ModelArtifact(byte[] OnnxBytes, ModelManifest Manifest);
