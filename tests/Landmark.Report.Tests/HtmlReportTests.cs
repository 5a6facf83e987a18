using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Reporting;
using GapResult = Landmark.Contracts.Api.V1.GapResult;
using Xunit;

namespace Landmark.Report.Tests;

public sealed class HtmlReportTests
{
    private const string Hostile = "<script>alert(1)</script>";
    private const string HostileId = "x\"><img src=x onerror=alert(2)>";

    private static (Dataset Dataset, EvaluationRun Run) Sample()
    {
        var dataset = new Dataset
        {
            Root = "/nowhere/mini",
            Layout = DatasetLayout.FolderPerClass,
            Landmarks = new Dictionary<string, string> { ["a"] = Hostile, ["b"] = "Bridge & <Tower>" },
            Train = [new DatasetImage("a/1.jpg", "/nowhere/mini/a/1.jpg", "a")],
            NonLandmarks = [],
            Problems = [],
        };
        QueryOutcome Q(string id, string truth, string predicted, double confidence, bool isLandmark)
        {
            var q = new QueryOutcome { QueryId = id, TrueLandmarkId = truth, PredictedLandmarkId = predicted, Confidence = confidence, IsLandmark = isLandmark };
            q.Neighbours.Add(new Neighbour { ImageId = "img" + id, ExternalId = "a/1.jpg", FileName = HostileId, LandmarkId = predicted, Similarity = 0.9 });
            return q;
        }
        var result = new GapResult { Gap = 0.5, Accuracy = 2.0 / 3, Queries = 4, LandmarkQueries = 3, Correct = 2, ModelVersion = HostileId };
        result.ScorerSettings.Add("MinConfidence", 0.5);
        result.ScorerSettings.Add("VotingNeighbours", 10);
        // Ranked by confidence: q1 (a, right), q4 (non-landmark said b), q2 (b said a, wrong), q3 (b, right).
        var outcomes = new List<QueryOutcome>
        {
            Q("q1", "a", "a", 0.9, true),
            Q("q2", "b", "a", 0.6, true),
            Q("q3", "b", "b", 0.3, false),
            Q(HostileId, "", "b", 0.8, true),
        };
        return (dataset, new EvaluationRun(result, outcomes));
    }

    [Fact]
    public void Strings_from_data_are_html_encoded()
    {
        var (dataset, run) = Sample();
        var report = EvaluationReportBuilder.Build(dataset, "val", run, new ModelInfo { Version = "m1", Description = Hostile });
        var html = HtmlReport.Render(report, dataset, new Thumbnails());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img src=x", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<Tower>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.Contains("Bridge &amp; &lt;Tower&gt;", html, StringComparison.Ordinal);
        Assert.Contains("x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Per_landmark_ap_curve_confusions_and_examples_follow_the_ranking_by_confidence()
    {
        var (dataset, run) = Sample();
        var report = EvaluationReportBuilder.Build(dataset, "val", run, null);

        var a = Assert.Single(report.Landmarks, l => l.LandmarkId == "a");
        var b = Assert.Single(report.Landmarks, l => l.LandmarkId == "b");
        // a: answers q1 (right, 0.9), q2 (wrong, 0.6); one query of a: AP = 1/1.
        Assert.Equal(1.0, a.AveragePrecision);
        Assert.Equal((1, 2, 1), (a.Correct, a.Predicted, a.FalsePositives));
        // b: answers hostile (wrong, 0.8), q3 (right, 0.3); two queries of b: AP = (1/2) / 2.
        Assert.Equal(0.25, b.AveragePrecision);
        Assert.Equal(1, a.GalleryImages);

        // Thresholds 0.9, 0.8, 0.6, 0.3: precision 1, 1/2, 1/3, 2/4; recall of 3 landmark queries.
        Assert.Equal([0.9, 0.8, 0.6, 0.3], report.PrecisionCurve.Select(p => p.Confidence));
        Assert.Equal([1.0, 0.5, 1.0 / 3, 0.5], report.PrecisionCurve.Select(p => p.Precision));
        Assert.Equal([1.0 / 3, 1.0 / 3, 1.0 / 3, 2.0 / 3], report.PrecisionCurve.Select(p => p.Recall));

        // b → a (q2), no landmark → b (false alarm), b → "not a landmark" (q3 below the threshold).
        Assert.Equal(3, report.ConfusedPairs.Count);
        Assert.Contains(report.ConfusedPairs, p => p is { TrueLandmarkId: "b", PredictedLandmarkId: "a", Count: 1 });
        Assert.Contains(report.ConfusedPairs, p => p is { TrueLandmarkId: "", PredictedLandmarkId: "b" });
        Assert.Contains(report.ConfusedPairs, p => p is { TrueLandmarkId: "b", PredictedLandmarkId: "" });

        // Misses: the wrong landmark first, then the right one below the threshold.
        Assert.Equal(["q2", "q3"], report.WorstMisses.Select(m => m.QueryId));
        Assert.Equal(1, report.FalseAlarms);
        Assert.Equal(HostileId, Assert.Single(report.NonLandmarksRankedHighest).QueryId);
    }
}
