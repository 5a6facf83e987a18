using System.Numerics.Tensors;

namespace Landmark.Recognition;

/// <summary>
/// Calibrates <see cref="KnnScorer"/> settings for one embedding model on held-out data: landmark queries (label set)
/// and non-landmark queries (label null) against a labelled gallery and a distractor gallery. A grid over the voting
/// and confidence settings (TopK, Power, NonLandmarkWeight, Gain) keeps the one with the best GAP; similarities are
/// computed once.
/// </summary>
public static class ScorerCalibrator
{
    public sealed record Result(double DefaultGap, double BestGap, IReadOnlyDictionary<string, double> Settings, int Queries);

    private static readonly int[] TopKs = [1, 3, 5, 10];
    private static readonly double[] Powers = [1, 3, 9];
    private static readonly double[] Weights = [0, 0.5, 1, 1.5];
    private static readonly double[] Gains = [5, 10, 20, 40];

    public static Result Calibrate(IReadOnlyList<(float[] Vector, string? Label)> queries, IReadOnlyList<(float[] Vector, string Label)> gallery,
        IReadOnlyList<float[]> distractors, ScorerOptions defaults)
    {
        if (queries.Count == 0 || gallery.Count == 0)
        {
            throw new ArgumentException("calibration needs queries and a gallery");
        }
        var maxK = Math.Max(TopKs.Max(), defaults.TopK);
        var neighbours = new List<GalleryNeighbour>[queries.Count];
        var distractorSims = new List<double>[queries.Count];
        Parallel.For(0, queries.Count, q =>
        {
            var query = queries[q].Vector;
            neighbours[q] = gallery.Select((g, j) => new GalleryNeighbour(j.ToString(System.Globalization.CultureInfo.InvariantCulture), g.Label, TensorPrimitives.Dot(query, g.Vector)))
                .OrderByDescending(n => n.Similarity).Take(maxK).ToList();
            distractorSims[q] = distractors.Select(d => (double)TensorPrimitives.Dot(query, d)).OrderDescending().Take(Math.Max(1, defaults.NonLandmarkTopM)).ToList();
        });

        double Gap(ScorerOptions options)
        {
            var scorer = new KnnScorer(options);
            var predictions = new GapPrediction[queries.Count];
            for (var q = 0; q < queries.Count; q++)
            {
                var p = scorer.Score(neighbours[q].Take(options.TopK).ToList(), distractorSims[q].Take(options.NonLandmarkTopM).ToList());
                predictions[q] = new GapPrediction(p.LandmarkId, p.Confidence, queries[q].Label);
            }
            return GlobalAveragePrecision.Compute(predictions).Gap;
        }

        var defaultGap = Gap(defaults);
        var best = (Gap: defaultGap, Options: defaults);
        foreach (var topK in TopKs)
        foreach (var power in Powers)
        foreach (var weight in Weights)
        foreach (var gain in Gains)
        {
            var candidate = new ScorerOptions
            {
                TopK = topK, Power = power, NonLandmarkWeight = weight, Gain = gain,
                NonLandmarkTopM = defaults.NonLandmarkTopM, MinConfidence = defaults.MinConfidence,
            };
            var gap = Gap(candidate);
            if (gap > best.Gap + 1e-9)
            {
                best = (gap, candidate);
            }
        }
        var settings = new Dictionary<string, double>
        {
            [nameof(ScorerOptions.TopK)] = best.Options.TopK,
            [nameof(ScorerOptions.Power)] = best.Options.Power,
            [nameof(ScorerOptions.NonLandmarkWeight)] = best.Options.NonLandmarkWeight,
            [nameof(ScorerOptions.Gain)] = best.Options.Gain,
        };
        return new Result(defaultGap, best.Gap, settings, queries.Count);
    }
}
