using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Landmark.Recognition;

/// <summary>Settings of <see cref="KnnScorer"/> and of the answers built from it. Bound from <c>Landmark:Scorer</c>;
/// ranges from <see cref="ScorerRanges"/>.</summary>
public sealed class ScorerOptions : IValidatableObject
{
    public const string SectionName = "Landmark:Scorer";

    /// <summary>Nearest landmark gallery images that vote for the answer (not how many a caller sees: that is the
    /// request's <c>top_k</c>). Tuned on landmarks-mini `val` for the default ImageNet ResNet-18
    /// (benchmarks/Landmark.Tuning): 10 neighbours GAP 0.985, 3 neighbours 0.968.</summary>
    [Range(ScorerRanges.VotingNeighbours.Min, ScorerRanges.VotingNeighbours.Max)]
    public int VotingNeighbours { get; set; } = 10;

    /// <summary>Neighbour weight = similarity^Power (GLR 2020 used cos^9 over 5 neighbours; 1, 3 and 9 tie within 0.001
    /// GAP on `val` with the default model).</summary>
    [Range(ScorerRanges.Power.Min, ScorerRanges.Power.Max)]
    public double Power { get; set; } = 3;

    /// <summary>Nearest non-landmark (distractor) images used to estimate how "non-landmark-like" the query is.</summary>
    [Range(ScorerRanges.NonLandmarkTopM.Min, ScorerRanges.NonLandmarkTopM.Max)]
    public int NonLandmarkTopM { get; set; } = 5;

    /// <summary>How strongly similarity to distractors lowers the confidence (0 = ignore the distractor gallery).</summary>
    [Range(ScorerRanges.NonLandmarkWeight.Min, ScorerRanges.NonLandmarkWeight.Max)]
    public double NonLandmarkWeight { get; set; } = 1.0;

    /// <summary>Steepness of the logistic that maps the evidence margin to a confidence in [0, 1].</summary>
    [Range(ScorerRanges.Gain.Min, ScorerRanges.Gain.Max)]
    public double Gain { get; set; } = 20;

    /// <summary>Answers with confidence below this are reported as "not a landmark".</summary>
    [Range(ScorerRanges.MinConfidence.Min, ScorerRanges.MinConfidence.Max)]
    public double MinConfidence { get; set; } = 0.5;

    /// <summary>Landmark candidates an answer lists (<c>RecognizeResponse.candidates</c>), best first.</summary>
    [Range(ScorerRanges.CandidateCount.Min, ScorerRanges.CandidateCount.Max)]
    public int CandidateCount { get; set; } = 5;

    /// <summary>The old name of <see cref="VotingNeighbours"/> (<c>Landmark:Scorer:TopK</c>), bound only so that a
    /// configuration still using it stops start-up with a message naming the new key instead of being ignored.</summary>
    [Obsolete("Renamed VotingNeighbours; only read to refuse the old key.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public int? TopK { get; set; }

    /// <summary>Apply the scorer settings a model carries in its manifest (calibrated by its training job) to the
    /// answers that model embeds; false = these settings for every model.</summary>
    public bool UseModelSettings { get; set; } = true;

    /// <summary>A copy with a model's calibrated settings applied (values outside <see cref="ScorerRanges"/> are
    /// ignored), or this instance when <see cref="UseModelSettings"/> is off or there is nothing to apply.</summary>
    public ScorerOptions WithModelSettings(ModelScorerSettings? settings)
    {
        if (!UseModelSettings || settings is null || settings.IsEmpty)
        {
            return this;
        }
        var valid = settings.WithinRanges();
        var copy = (ScorerOptions)MemberwiseClone();
        copy.VotingNeighbours = valid.VotingNeighbours ?? VotingNeighbours;
        copy.Power = valid.Power ?? Power;
        copy.NonLandmarkTopM = valid.NonLandmarkTopM ?? NonLandmarkTopM;
        copy.NonLandmarkWeight = valid.NonLandmarkWeight ?? NonLandmarkWeight;
        copy.Gain = valid.Gain ?? Gain;
        copy.MinConfidence = valid.MinConfidence ?? MinConfidence;
        return copy;
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
#pragma warning disable CS0618 // the renamed key is read here, and only here, to refuse it
        if (TopK is not null)
        {
            yield return new ValidationResult($"{SectionName}:TopK was renamed {nameof(VotingNeighbours)} (the neighbours that vote; how many " +
                "neighbours a caller sees is the request's top_k): set that instead.", [nameof(TopK)]);
        }
#pragma warning restore CS0618
    }
}
