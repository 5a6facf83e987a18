using System.ComponentModel.DataAnnotations;

namespace Landmark.Recognition;

/// <summary>A gallery neighbour of a query: cosine similarity and the landmark it shows.</summary>
public readonly record struct GalleryNeighbour(string ImageId, string LandmarkId, double Similarity);

/// <summary>A scored landmark candidate.</summary>
public readonly record struct LandmarkScore(string LandmarkId, double Score);

/// <summary>The scorer's answer for one query.</summary>
/// <param name="Confidence">Ranking score in [0, 1], meant for GAP: comparable across queries.</param>
public sealed record LandmarkPrediction(bool IsLandmark, string? LandmarkId, double Confidence, IReadOnlyList<LandmarkScore> Candidates);

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

    /// <summary>The keys a model may set (<see cref="WithModelSettings"/>).</summary>
    public static IReadOnlyList<string> CalibratedKeys { get; } = [nameof(TopK), nameof(Power), nameof(NonLandmarkTopM), nameof(NonLandmarkWeight), nameof(Gain), nameof(MinConfidence)];

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

/// <summary>
/// Turns nearest neighbours into a landmark and a confidence.
/// <para>Voting: score(l) = Σ over the top-K landmark neighbours j labelled l of max(cos(q, g_j), 0)^p.</para>
/// <para>Evidence: e = best cosine among neighbours labelled with the winner − w · mean cosine of the query's
/// M nearest non-landmark images (after the GLR 2020 winners' non-landmark re-ranking, applied per query): a photo
/// that is about as close to distractors as to the gallery is probably not a landmark.</para>
/// <para>Confidence = share(winner) · σ(gain · e), where share is the winner's fraction of all votes. It ranks
/// confident, unambiguous, landmark-like answers first, which is what GAP rewards.</para>
/// </summary>
public sealed class KnnScorer(ScorerOptions options)
{
    public ScorerOptions Options { get; } = options;

    /// <param name="landmarkNeighbours">Nearest landmark-gallery images, best first.</param>
    /// <param name="nonLandmarkSimilarities">Similarities to the nearest non-landmark images, best first (may be empty).</param>
    public LandmarkPrediction Score(IReadOnlyList<GalleryNeighbour> landmarkNeighbours, IReadOnlyList<double> nonLandmarkSimilarities)
    {
        ArgumentNullException.ThrowIfNull(landmarkNeighbours);
        ArgumentNullException.ThrowIfNull(nonLandmarkSimilarities);
        if (landmarkNeighbours.Count == 0)
        {
            return new LandmarkPrediction(false, null, 0, []);
        }

        var votes = new Dictionary<string, double>(StringComparer.Ordinal);
        var best = new Dictionary<string, double>(StringComparer.Ordinal);
        double total = 0;
        foreach (var n in landmarkNeighbours.Take(Options.TopK))
        {
            var w = Math.Pow(Math.Max(n.Similarity, 0), Options.Power);
            votes[n.LandmarkId] = votes.GetValueOrDefault(n.LandmarkId) + w;
            best[n.LandmarkId] = Math.Max(best.GetValueOrDefault(n.LandmarkId, double.NegativeInfinity), n.Similarity);
            total += w;
        }

        var candidates = votes
            .OrderByDescending(kv => kv.Value)
            .ThenByDescending(kv => best[kv.Key])
            .Select(kv => new LandmarkScore(kv.Key, total > 0 ? kv.Value / total : 0))
            .ToList();
        var winner = candidates[0];

        var distractor = 0.0;
        var m = Math.Min(Options.NonLandmarkTopM, nonLandmarkSimilarities.Count);
        if (m > 0)
        {
            for (var i = 0; i < m; i++)
            {
                distractor += nonLandmarkSimilarities[i];
            }
            distractor /= m;
        }

        var evidence = best[winner.LandmarkId] - (Options.NonLandmarkWeight * distractor);
        var share = total > 0 ? winner.Score : 1.0 / candidates.Count;
        var confidence = share * Logistic(Options.Gain * evidence);
        var isLandmark = confidence >= Options.MinConfidence;
        return new LandmarkPrediction(isLandmark, winner.LandmarkId, confidence, candidates);
    }

    private static double Logistic(double x) => 1.0 / (1.0 + Math.Exp(-x));
}
