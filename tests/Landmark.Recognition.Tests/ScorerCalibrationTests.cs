using Landmark.Recognition;
using Xunit;

namespace Landmark.Recognition.Tests;

public class ScorerCalibrationTests
{
    [Fact]
    public void Model_settings_override_known_keys_within_range_and_leave_the_rest()
    {
        var configured = new ScorerOptions { TopK = 3, Gain = 20, NonLandmarkWeight = 1 };
        var applied = configured.WithModelSettings(new Dictionary<string, double>
        {
            ["TopK"] = 7,
            ["Gain"] = 5000, // out of range: ignored
            ["NonLandmarkWeight"] = 0.5,
            ["Unknown"] = 1,
        });
        Assert.Equal(7, applied.TopK);
        Assert.Equal(20, applied.Gain);
        Assert.Equal(0.5, applied.NonLandmarkWeight);
        Assert.Equal(configured.Power, applied.Power);
        Assert.Equal(3, configured.TopK); // the configured instance is untouched
        Assert.Same(configured, configured.WithModelSettings(new Dictionary<string, double>()));
        var off = new ScorerOptions { UseModelSettings = false };
        Assert.Same(off, off.WithModelSettings(new Dictionary<string, double> { ["TopK"] = 7 }));
    }

    private static float[] Unit(params float[] v)
    {
        var n = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / n).ToArray();
    }

    [Fact]
    public void Calibration_finds_settings_at_least_as_good_as_the_configured_ones()
    {
        var random = new Random(3);
        float[] Near(float[] centre, double spread) => Unit(centre.Select(c => c + (float)((random.NextDouble() - 0.5) * spread)).ToArray());
        var centres = new[] { Unit(1, 0, 0, 0.2f), Unit(0, 1, 0, 0.2f), Unit(0, 0, 1, 0.2f) };
        var distractorCentre = Unit(0.3f, 0.3f, 0.3f, 1);
        var gallery = Enumerable.Range(0, 30).Select(i => (Near(centres[i % 3], 0.6), $"L{i % 3}")).ToList();
        var distractors = Enumerable.Range(0, 20).Select(_ => Near(distractorCentre, 0.4)).ToList();
        // Non-landmark queries look somewhat like a landmark but more like the distractors: only the distractor
        // evidence tells them apart from the noisy landmark queries.
        float[] Between(float[] a, float[] b) => Near(a.Zip(b, (x, y) => (0.8f * x) + (0.6f * y)).ToArray(), 0.3);
        var queries = Enumerable.Range(0, 15).Select(i => (Near(centres[i % 3], 1.2), (string?)$"L{i % 3}"))
            .Concat(Enumerable.Range(0, 15).Select(i => (Between(centres[i % 3], distractorCentre), (string?)null))).ToList();
        // Deliberately poor configured settings: distractors ignored, a flat confidence.
        var configured = new ScorerOptions { TopK = 1, Power = 1, NonLandmarkWeight = 0, Gain = 0.1 };

        var result = ScorerCalibrator.Calibrate(queries, gallery, distractors, configured);

        Assert.Equal(30, result.Queries);
        Assert.True(result.BestGap >= result.DefaultGap, $"{result.BestGap} < {result.DefaultGap}");
        Assert.True(result.BestGap > result.DefaultGap, $"no better settings than the poor configured ones ({result.DefaultGap:F4})");
        Assert.Equal(["Gain", "NonLandmarkWeight", "Power", "TopK"], result.Settings.Keys.Order(StringComparer.Ordinal));
        Assert.True(result.Settings["NonLandmarkWeight"] > 0, "non-landmark queries call for the distractor evidence");
        // Deterministic for the same data.
        Assert.Equal(result.Settings, ScorerCalibrator.Calibrate(queries, gallery, distractors, configured).Settings);
    }
}
