namespace Landmark.Recognition;

/// <summary>One query's answer for GAP: the predicted landmark (null = "not a landmark") with its confidence,
/// and the truth (null = the query shows no landmark).</summary>
public readonly record struct GapPrediction(string? PredictedLandmark, double Confidence, string? TrueLandmark);

/// <summary>The result of <see cref="GlobalAveragePrecision.Compute"/>.</summary>
/// <param name="Gap">Kaggle's Global Average Precision, in [0, 1].</param>
/// <param name="Accuracy">Landmark queries whose predicted landmark is right / landmark queries.</param>
public sealed record GapResult(double Gap, double Accuracy, int Queries, int LandmarkQueries, int Correct);

/// <summary>
/// Global Average Precision (micro-AP) as scored in Kaggle's Google Landmark Recognition challenges:
/// one prediction per query; sort by confidence, descending; walking down, each correct prediction adds
/// (correct so far / rank); divide by the number of queries that have a landmark. Queries without a landmark
/// take ranks (their predictions are never correct) but do not count in the denominator; a query with no
/// prediction takes no rank.
/// </summary>
public static class GlobalAveragePrecision
{
    public static GapResult Compute(IReadOnlyCollection<GapPrediction> predictions)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var landmarkQueries = predictions.Count(p => p.TrueLandmark is not null);
        // Stable sort: equal confidences keep input order.
        var ranked = predictions
            .Select((p, i) => (p, i))
            .Where(t => t.p.PredictedLandmark is not null)
            .OrderByDescending(t => t.p.Confidence)
            .ThenBy(t => t.i)
            .Select(t => t.p);

        double sum = 0;
        var correct = 0;
        var rank = 0;
        foreach (var p in ranked)
        {
            rank++;
            if (p.TrueLandmark is not null && string.Equals(p.PredictedLandmark, p.TrueLandmark, StringComparison.Ordinal))
            {
                correct++;
                sum += (double)correct / rank;
            }
        }

        var gap = landmarkQueries == 0 ? 0 : sum / landmarkQueries;
        var accuracy = landmarkQueries == 0 ? 0 : (double)correct / landmarkQueries;
        return new GapResult(gap, accuracy, predictions.Count, landmarkQueries, correct);
    }
}
