namespace Landmark.Recognition;

/// <summary>A gallery neighbour of a query: cosine similarity and the landmark it shows.</summary>
public readonly record struct GalleryNeighbour(string ImageId, string LandmarkId, double Similarity);

/// <summary>A scored landmark candidate.</summary>
public readonly record struct LandmarkScore(string LandmarkId, double Score);

/// <summary>The scorer's answer for one query.</summary>
/// <param name="Confidence">Ranking score in [0, 1], meant for GAP: comparable across queries.</param>
public sealed record LandmarkPrediction(bool IsLandmark, string? LandmarkId, double Confidence, IReadOnlyList<LandmarkScore> Candidates);

/// <summary>
/// Turns nearest neighbours into a landmark and a confidence.
/// <para>Voting: score(l) = Σ over the K nearest landmark neighbours (<see cref="ScorerOptions.VotingNeighbours"/>) j labelled l of max(cos(q, g_j), 0)^p.</para>
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
        foreach (var n in landmarkNeighbours.Take(Options.VotingNeighbours))
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
