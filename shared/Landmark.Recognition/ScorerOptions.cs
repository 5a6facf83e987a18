using System.ComponentModel.DataAnnotations;

namespace Landmark.Recognition;

/// <summary>Settings of <see cref="KnnScorer"/>. Bound from <c>Landmark:Scorer</c>.</summary>
public sealed class ScorerOptions
{
    public const string SectionName = "Landmark:Scorer";

    /// <summary>Landmark neighbours that vote. Tuned on landmarks-mini `val` for the default ImageNet ResNet-18
    /// (benchmarks/Landmark.Tuning): 10 neighbours GAP 0.985, 3 neighbours 0.968.</summary>
    [Range(1, 1000)]
    public int TopK { get; set; } = 10;

    /// <summary>Neighbour weight = similarity^Power (GLR 2020 used cos^9 over 5 neighbours; 1, 3 and 9 tie within 0.001
    /// GAP on `val` with the default model).</summary>
    [Range(0.0, 64.0)]
    public double Power { get; set; } = 3;

    /// <summary>Nearest non-landmark (distractor) images used to estimate how "non-landmark-like" the query is.</summary>
    [Range(0, 1000)]
    public int NonLandmarkTopM { get; set; } = 5;

    /// <summary>How strongly similarity to distractors lowers the confidence (0 = ignore the distractor gallery).</summary>
    [Range(0.0, 10.0)]
    public double NonLandmarkWeight { get; set; } = 1.0;

    /// <summary>Steepness of the logistic that maps the evidence margin to a confidence in [0, 1].</summary>
    [Range(0.1, 1000.0)]
    public double Gain { get; set; } = 20;

    /// <summary>Answers with confidence below this are reported as "not a landmark".</summary>
    [Range(0.0, 1.0)]
    public double MinConfidence { get; set; } = 0.5;

    /// <summary>Apply the scorer settings a model carries in its manifest (calibrated by its training job) to the
    /// answers that model embeds; false = these settings for every model.</summary>
    public bool UseModelSettings { get; set; } = true;

    /// <summary>A copy with a model's calibrated settings applied (unknown keys and out-of-range values are ignored),
    /// or this instance when <see cref="UseModelSettings"/> is off or there is nothing to apply.</summary>
    public ScorerOptions WithModelSettings(IReadOnlyDictionary<string, double>? settings)
    {
        if (!UseModelSettings || settings is null || settings.Count == 0)
        {
            return this;
        }
        var copy = (ScorerOptions)MemberwiseClone();
        foreach (var (key, value) in settings)
        {
            switch (key)
            {
                case nameof(TopK) when value is >= 1 and <= 1000: copy.TopK = (int)value; break;
                case nameof(Power) when value is >= 0 and <= 64: copy.Power = value; break;
                case nameof(NonLandmarkTopM) when value is >= 0 and <= 1000: copy.NonLandmarkTopM = (int)value; break;
                case nameof(NonLandmarkWeight) when value is >= 0 and <= 10: copy.NonLandmarkWeight = value; break;
                case nameof(Gain) when value is >= 0.1 and <= 1000: copy.Gain = value; break;
                case nameof(MinConfidence) when value is >= 0 and <= 1: copy.MinConfidence = value; break;
            }
        }
        return copy;
    }
}
