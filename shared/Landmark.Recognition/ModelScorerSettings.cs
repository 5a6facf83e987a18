using System.Text.Json;
using System.Text.Json.Serialization;

namespace Landmark.Recognition;

/// <summary>
/// Scorer settings calibrated for one embedding model (its manifest's <c>ScorerSettings</c>); a setting left null keeps
/// the configured one. Stored and sent as a flat map of numbers keyed by <see cref="ScorerOptions"/> property names
/// (the manifest JSON and the gRPC <c>scorer_settings</c> maps); maps written before <c>TopK</c> was renamed
/// <see cref="VotingNeighbours"/> are read with their old key.
/// </summary>
[JsonConverter(typeof(ModelScorerSettingsJsonConverter))]
public sealed record ModelScorerSettings
{
    /// <summary>The key <see cref="VotingNeighbours"/> had in manifests and maps written before the rename.</summary>
    public const string LegacyVotingNeighboursKey = "TopK";

    public static ModelScorerSettings None { get; } = new();

    public int? VotingNeighbours { get; init; }

    public double? Power { get; init; }

    public int? NonLandmarkTopM { get; init; }

    public double? NonLandmarkWeight { get; init; }

    public double? Gain { get; init; }

    public double? MinConfidence { get; init; }

    public bool IsEmpty => this == None;

    /// <summary>Every setting a model may calibrate, as <paramref name="options"/> has it.</summary>
    public static ModelScorerSettings Of(ScorerOptions options) => new()
    {
        VotingNeighbours = options.VotingNeighbours,
        Power = options.Power,
        NonLandmarkTopM = options.NonLandmarkTopM,
        NonLandmarkWeight = options.NonLandmarkWeight,
        Gain = options.Gain,
        MinConfidence = options.MinConfidence,
    };

    /// <summary>These settings without the ones outside <see cref="ScorerRanges"/> (a manifest is data: a bad value
    /// leaves the configured setting in force).</summary>
    public ModelScorerSettings WithinRanges() => new()
    {
        VotingNeighbours = VotingNeighbours is >= ScorerRanges.VotingNeighbours.Min and <= ScorerRanges.VotingNeighbours.Max ? VotingNeighbours : null,
        Power = Power is >= ScorerRanges.Power.Min and <= ScorerRanges.Power.Max ? Power : null,
        NonLandmarkTopM = NonLandmarkTopM is >= ScorerRanges.NonLandmarkTopM.Min and <= ScorerRanges.NonLandmarkTopM.Max ? NonLandmarkTopM : null,
        NonLandmarkWeight = NonLandmarkWeight is >= ScorerRanges.NonLandmarkWeight.Min and <= ScorerRanges.NonLandmarkWeight.Max ? NonLandmarkWeight : null,
        Gain = Gain is >= ScorerRanges.Gain.Min and <= ScorerRanges.Gain.Max ? Gain : null,
        MinConfidence = MinConfidence is >= ScorerRanges.MinConfidence.Min and <= ScorerRanges.MinConfidence.Max ? MinConfidence : null,
    };

    /// <summary>The settings that are set, keyed by <see cref="ScorerOptions"/> property names.</summary>
    public Dictionary<string, double> ToDictionary()
    {
        var map = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string key, double? value)
        {
            if (value is { } v)
            {
                map[key] = v;
            }
        }
        Add(nameof(VotingNeighbours), VotingNeighbours);
        Add(nameof(Power), Power);
        Add(nameof(NonLandmarkTopM), NonLandmarkTopM);
        Add(nameof(NonLandmarkWeight), NonLandmarkWeight);
        Add(nameof(Gain), Gain);
        Add(nameof(MinConfidence), MinConfidence);
        return map;
    }

    /// <summary>Settings from a map keyed by <see cref="ScorerOptions"/> property names (also the
    /// <see cref="LegacyVotingNeighboursKey"/>); unknown keys are ignored, whole-number settings are rounded.</summary>
    public static ModelScorerSettings FromDictionary(IEnumerable<KeyValuePair<string, double>>? map)
    {
        if (map is null)
        {
            return None;
        }
        var values = map.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        double? Get(string key) => values.TryGetValue(key, out var v) ? v : null;
        int? Whole(double? v) => v is { } d && double.IsFinite(d) && Math.Abs(d) <= int.MaxValue ? (int)Math.Round(d) : null;
        var settings = new ModelScorerSettings
        {
            VotingNeighbours = Whole(Get(nameof(VotingNeighbours)) ?? Get(LegacyVotingNeighboursKey)),
            Power = Get(nameof(Power)),
            NonLandmarkTopM = Whole(Get(nameof(NonLandmarkTopM))),
            NonLandmarkWeight = Get(nameof(NonLandmarkWeight)),
            Gain = Get(nameof(Gain)),
            MinConfidence = Get(nameof(MinConfidence)),
        };
        return settings.IsEmpty ? None : settings;
    }
}

/// <summary>Reads and writes <see cref="ModelScorerSettings"/> as the flat JSON object of numbers manifests have always held.</summary>
public sealed class ModelScorerSettingsJsonConverter : JsonConverter<ModelScorerSettings>
{
    public override bool HandleNull => true;

    public override ModelScorerSettings Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null
            ? ModelScorerSettings.None
            : ModelScorerSettings.FromDictionary(JsonSerializer.Deserialize<Dictionary<string, double>>(ref reader, options));

    public override void Write(Utf8JsonWriter writer, ModelScorerSettings value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.ToDictionary(), options);
}
