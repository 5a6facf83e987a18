using System.Globalization;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;

namespace Landmark.Reporting;

/// <summary>The figures of an evaluation report (written as report.json; the HTML report shows them).</summary>
public sealed record EvaluationReport
{
    public required DateTimeOffset GeneratedAt { get; init; }
    /// <summary>The dataset folder's name (not its full path).</summary>
    public required string Dataset { get; init; }
    public required string Split { get; init; }
    public required ReportSummary Summary { get; init; }
    /// <summary>The live model when the report was made (null when the server did not say).</summary>
    public ReportModel? Model { get; init; }
    /// <summary>The scorer settings in force for the model that embedded the queries.</summary>
    public required IReadOnlyDictionary<string, double> ScorerSettings { get; init; }
    public required IReadOnlyList<LandmarkFigures> Landmarks { get; init; }
    /// <summary>Precision and recall of the answers whose confidence is at least each threshold, thresholds descending.</summary>
    public required IReadOnlyList<CurvePoint> PrecisionCurve { get; init; }
    public required IReadOnlyList<ConfusedPair> ConfusedPairs { get; init; }
    /// <summary>Landmark queries answered wrongly (or rejected as non-landmarks), the most confident first.</summary>
    public required IReadOnlyList<QueryFigures> WorstMisses { get; init; }
    /// <summary>Non-landmark queries ranked highest, the most confident first; <see cref="QueryFigures.IsLandmark"/> marks
    /// the false alarms (answered as a landmark).</summary>
    public required IReadOnlyList<QueryFigures> NonLandmarksRankedHighest { get; init; }
    public required int FalseAlarms { get; init; }
    public required IReadOnlyList<QueryFigures> Queries { get; init; }
}

public sealed record ReportSummary(double Gap, double Accuracy, int Queries, int LandmarkQueries, int NonLandmarkQueries, int Correct,
    int Errors, double QueriesPerSecond, string ModelVersion);

public sealed record ReportModel(string Version, string Kind, string Description, int InputSize, int Dimension, string CreatedAt,
    IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<float> Mean, IReadOnlyList<float> Std);

/// <summary>Figures of one landmark. <see cref="AveragePrecision"/>: the queries answered with this landmark, ranked by
/// confidence; the sum of precision at each right answer divided by the landmark's queries (GAP restricted to one class).</summary>
public sealed record LandmarkFigures(string LandmarkId, string Name, int GalleryImages, int Queries, int Correct, int Predicted,
    int FalsePositives, double? AveragePrecision);

public sealed record CurvePoint(double Confidence, double Precision, double Recall, int Answers);

/// <summary>Queries of <see cref="TrueLandmarkId"/> (empty = no landmark) answered as <see cref="PredictedLandmarkId"/>
/// (empty = "not a landmark").</summary>
public sealed record ConfusedPair(string TrueLandmarkId, string TrueName, string PredictedLandmarkId, string PredictedName, int Count);

public sealed record NeighbourFigures(string ImageId, string ExternalId, string FileName, string LandmarkId, double Similarity);

public sealed record QueryFigures(string QueryId, string TrueLandmarkId, string PredictedLandmarkId, bool IsLandmark, double Confidence,
    bool Correct, string Error, IReadOnlyList<NeighbourFigures> Neighbours);

/// <summary>Builds an <see cref="EvaluationReport"/> from an evaluation run.</summary>
public static class EvaluationReportBuilder
{
    public const int ExamplesShown = 12;
    public const int PairsShown = 10;
    public const int MaxCurvePoints = 200;

    public static EvaluationReport Build(Dataset dataset, string split, EvaluationRun run, ModelInfo? liveModel, DateTimeOffset? now = null)
    {
        var queries = run.Outcomes.Select(ToFigures).ToList();
        var r = run.Result;
        var names = dataset.Landmarks;
        string Name(string id) => id.Length == 0 ? "" : names.GetValueOrDefault(id, id);

        var answered = queries.Where(q => q.Error.Length == 0).ToList();
        var landmarks = LandmarkTable(dataset, queries);
        var pairs = answered
            .Select(q => (Truth: q.TrueLandmarkId, Said: q.IsLandmark ? q.PredictedLandmarkId : ""))
            .Where(p => p.Truth != p.Said)
            .GroupBy(p => p)
            .Select(g => new ConfusedPair(g.Key.Truth, Name(g.Key.Truth), g.Key.Said, Name(g.Key.Said), g.Count()))
            .OrderByDescending(p => p.Count).ThenBy(p => p.TrueLandmarkId, StringComparer.Ordinal).ThenBy(p => p.PredictedLandmarkId, StringComparer.Ordinal)
            .Take(PairsShown)
            .ToList();
        var misses = answered
            .Where(q => q.TrueLandmarkId.Length > 0 && !(q.Correct && q.IsLandmark))
            .OrderBy(q => q.Correct ? 1 : 0).ThenByDescending(q => q.Confidence).ThenBy(q => q.QueryId, StringComparer.Ordinal)
            .Take(ExamplesShown)
            .ToList();
        var nonLandmarks = answered
            .Where(q => q.TrueLandmarkId.Length == 0)
            .OrderByDescending(q => q.IsLandmark).ThenByDescending(q => q.Confidence).ThenBy(q => q.QueryId, StringComparer.Ordinal)
            .ToList();

        return new EvaluationReport
        {
            GeneratedAt = now ?? DateTimeOffset.UtcNow,
            Dataset = Path.GetFileName(dataset.Root.TrimEnd('/', '\\')),
            Split = split,
            Summary = new ReportSummary(r.Gap, r.Accuracy, r.Queries, r.LandmarkQueries, r.Queries - r.LandmarkQueries, r.Correct, r.Errors,
                r.QueriesPerSecond, r.ModelVersion),
            Model = liveModel is null ? null : new ReportModel(liveModel.Version, ModelKinds.Text(liveModel.Kind), liveModel.Description, liveModel.InputSize,
                liveModel.Dimension,
                liveModel.CreateTime?.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) ?? "", new SortedDictionary<string, double>(liveModel.Metrics, StringComparer.Ordinal),
                liveModel.Mean.ToList(), liveModel.Std.ToList()),
            ScorerSettings = new SortedDictionary<string, double>(r.ScorerSettings, StringComparer.Ordinal),
            Landmarks = landmarks,
            PrecisionCurve = Curve(queries, r.LandmarkQueries),
            ConfusedPairs = pairs,
            WorstMisses = misses,
            NonLandmarksRankedHighest = nonLandmarks.Take(ExamplesShown).ToList(),
            FalseAlarms = nonLandmarks.Count(q => q.IsLandmark),
            Queries = queries,
        };
    }

    private static QueryFigures ToFigures(QueryOutcome o) => new(
        o.QueryId, o.TrueLandmarkId, o.PredictedLandmarkId, o.IsLandmark, o.Confidence,
        o.Error.Length == 0 && o.TrueLandmarkId.Length > 0 && o.PredictedLandmarkId == o.TrueLandmarkId,
        o.Error,
        o.Neighbours.Select(n => new NeighbourFigures(n.ImageId, n.ExternalId, n.FileName, n.LandmarkId, n.Similarity)).ToList());

    private static List<LandmarkFigures> LandmarkTable(Dataset dataset, List<QueryFigures> queries)
    {
        var gallery = dataset.Train.Where(i => i.LandmarkId is not null).GroupBy(i => i.LandmarkId!).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var ids = dataset.Landmarks.Keys
            .Concat(queries.Select(q => q.TrueLandmarkId)).Concat(queries.Select(q => q.PredictedLandmarkId))
            .Where(id => id.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var table = new List<LandmarkFigures>();
        foreach (var id in ids)
        {
            var truths = queries.Count(q => q.TrueLandmarkId == id);
            var predicted = queries.Where(q => q.Error.Length == 0 && q.PredictedLandmarkId == id).OrderByDescending(q => q.Confidence).ToList();
            var correct = predicted.Count(q => q.TrueLandmarkId == id);
            double? ap = null;
            if (truths > 0)
            {
                double sum = 0;
                var right = 0;
                for (var i = 0; i < predicted.Count; i++)
                {
                    if (predicted[i].TrueLandmarkId == id)
                    {
                        right++;
                        sum += (double)right / (i + 1);
                    }
                }
                ap = sum / truths;
            }
            table.Add(new LandmarkFigures(id, dataset.Landmarks.GetValueOrDefault(id, id), gallery.GetValueOrDefault(id), truths, correct,
                predicted.Count, predicted.Count - correct, ap));
        }
        return table;
    }

    /// <summary>Walks the answers by confidence, descending (as GAP does); one point per distinct confidence, thinned
    /// to at most <see cref="MaxCurvePoints"/>.</summary>
    private static List<CurvePoint> Curve(List<QueryFigures> queries, int landmarkQueries)
    {
        var ranked = queries.Where(q => q.Error.Length == 0 && q.PredictedLandmarkId.Length > 0).OrderByDescending(q => q.Confidence).ToList();
        var points = new List<CurvePoint>();
        var right = 0;
        for (var i = 0; i < ranked.Count; i++)
        {
            right += ranked[i].Correct ? 1 : 0;
            if (i + 1 < ranked.Count && ranked[i + 1].Confidence == ranked[i].Confidence)
            {
                continue;
            }
            points.Add(new CurvePoint(ranked[i].Confidence, (double)right / (i + 1), landmarkQueries > 0 ? (double)right / landmarkQueries : 0, i + 1));
        }
        if (points.Count <= MaxCurvePoints)
        {
            return points;
        }
        var step = (double)(points.Count - 1) / (MaxCurvePoints - 1);
        return Enumerable.Range(0, MaxCurvePoints).Select(i => points[(int)Math.Round(i * step)]).Distinct().ToList();
    }
}
