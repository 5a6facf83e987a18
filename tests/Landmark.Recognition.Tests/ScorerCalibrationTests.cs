using Landmark.Recognition;
using Xunit;

namespace Landmark.Recognition.Tests;

public class ScorerCalibrationTests
{
    [Fact]
    public void Model_settings_override_the_settings_they_set_within_range_and_leave_the_rest()
    {
        var configured = new ScorerOptions { VotingNeighbours = 3, Gain = 20, NonLandmarkWeight = 1 };
        var applied = configured.WithModelSettings(new ModelScorerSettings
        {
            VotingNeighbours = 7,
            Gain = 5000, // out of range: ignored
            NonLandmarkWeight = 0.5,
        });
        Assert.Equal(7, applied.VotingNeighbours);
        Assert.Equal(20, applied.Gain);
        Assert.Equal(0.5, applied.NonLandmarkWeight);
        Assert.Equal(configured.Power, applied.Power);
        Assert.Equal(configured.CandidateCount, applied.CandidateCount);
        Assert.Equal(3, configured.VotingNeighbours); // the configured instance is untouched
        Assert.Same(configured, configured.WithModelSettings(ModelScorerSettings.None));
        var off = new ScorerOptions { UseModelSettings = false };
        Assert.Same(off, off.WithModelSettings(new ModelScorerSettings { VotingNeighbours = 7 }));
    }

    [Fact]
    public void A_settings_map_is_read_by_property_name_with_the_old_TopK_key_for_the_voting_neighbours()
    {
        var settings = ModelScorerSettings.FromDictionary(new Dictionary<string, double>
        {
            [ModelScorerSettings.LegacyVotingNeighboursKey] = 7,
            [nameof(ScorerOptions.Gain)] = 40,
            ["Unknown"] = 1,
        });
        Assert.Equal(new ModelScorerSettings { VotingNeighbours = 7, Gain = 40 }, settings);
        Assert.Equal(settings, ModelScorerSettings.FromDictionary(settings.ToDictionary()));
        Assert.Equal([nameof(ScorerOptions.Gain), nameof(ScorerOptions.VotingNeighbours)], settings.ToDictionary().Keys.Order(StringComparer.Ordinal));
        // The new name wins over the old one when a map holds both.
        Assert.Equal(4, ModelScorerSettings.FromDictionary(new Dictionary<string, double> { ["TopK"] = 7, [nameof(ScorerOptions.VotingNeighbours)] = 4 }).VotingNeighbours);
        Assert.True(ModelScorerSettings.FromDictionary(new Dictionary<string, double> { ["Unknown"] = 1 }).IsEmpty);
    }

    [Fact]
    public void Every_calibratable_setting_shares_its_range_with_the_configured_option()
    {
        // A value at the edge of ScorerRanges passes both the options' validation and WithinRanges; one beyond fails both.
        var edge = new ScorerOptions { VotingNeighbours = ScorerRanges.VotingNeighbours.Max, Gain = ScorerRanges.Gain.Min };
        Assert.Empty(Validate(edge));
        Assert.Equal(ModelScorerSettings.Of(edge), ModelScorerSettings.Of(edge).WithinRanges());
        var beyond = new ScorerOptions { VotingNeighbours = ScorerRanges.VotingNeighbours.Max + 1, Gain = ScorerRanges.Gain.Min / 2 };
        Assert.Equal(2, Validate(beyond).Count);
        var kept = ModelScorerSettings.Of(beyond).WithinRanges();
        Assert.Null(kept.VotingNeighbours);
        Assert.Null(kept.Gain);
        Assert.Equal(beyond.Power, kept.Power);
    }

    [Fact]
    public void The_old_TopK_key_in_configuration_fails_validation_naming_VotingNeighbours()
    {
#pragma warning disable CS0618 // what configuration binding does with Landmark:Scorer:TopK
        var options = new ScorerOptions { TopK = 7 };
#pragma warning restore CS0618
        var error = Assert.Single(Validate(options));
        Assert.Contains(nameof(ScorerOptions.VotingNeighbours), error.ErrorMessage);
        Assert.Equal(new ScorerOptions().VotingNeighbours, options.VotingNeighbours);
    }

    private static List<System.ComponentModel.DataAnnotations.ValidationResult> Validate(ScorerOptions options)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true);
        return results;
    }

    internal static float[] Unit(params float[] v)
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
        var configured = new ScorerOptions { VotingNeighbours = 1, Power = 1, NonLandmarkWeight = 0, Gain = 0.1 };

        var result = ScorerCalibrator.Calibrate(queries, gallery, distractors, configured);

        Assert.Equal(30, result.Queries);
        Assert.True(result.BestGap >= result.DefaultGap, $"{result.BestGap} < {result.DefaultGap}");
        Assert.True(result.BestGap > result.DefaultGap, $"no better settings than the poor configured ones ({result.DefaultGap:F4})");
        Assert.Equal(["Gain", "NonLandmarkWeight", "Power", "VotingNeighbours"], result.Settings.ToDictionary().Keys.Order(StringComparer.Ordinal));
        Assert.True(result.Settings.NonLandmarkWeight > 0, "non-landmark queries call for the distractor evidence");
        // Deterministic for the same data.
        Assert.Equal(result.Settings, ScorerCalibrator.Calibrate(queries, gallery, distractors, configured).Settings);
    }

    [Fact]
    public void Calibration_keeps_the_configured_settings_when_the_best_grid_point_wins_by_only_one_query()
    {
        // 20 landmark queries, 19 on their landmark's cluster. The 20th is an L0 photo whose single nearest gallery
        // image is an L1 outlier, with L0 images next: one-neighbour voting gets it wrong, three-neighbour voting gets
        // it right. That one query is all a different setting could win here, and one query is noise.
        float[] Unit(params float[] v) => ScorerCalibrationTests.Unit(v);
        var centres = new[] { Unit(1, 0, 0, 0), Unit(0, 1, 0, 0), Unit(0, 0, 1, 0) };
        float[] Around(float[] centre, int i) => Unit(centre.Select((c, d) => c + (0.01f * ((i + d) % 3))).ToArray());
        var gallery = Enumerable.Range(0, 15).Select(i => (Around(centres[i % 3], i), $"L{i % 3}")).ToList();
        gallery.Add((Unit(1, 0, 0, 1.3f), "L1"));
        var queries = Enumerable.Range(0, 19).Select(i => (Around(centres[i % 3], i + 1), (string?)$"L{i % 3}")).ToList();
        queries.Add((Unit(1, 0, 0, 1), "L0"));
        var distractors = new List<float[]> { Unit(0, 0, 0, -1), Unit(-1, -1, -1, 0) };
        var configured = new ScorerOptions { VotingNeighbours = 1, Power = 1, NonLandmarkWeight = 0, Gain = 5 };

        var result = ScorerCalibrator.Calibrate(queries, gallery, distractors, configured);

        Assert.Equal(0.95, result.DefaultGap, 6);
        Assert.Equal(1.0 / 20, ScorerCalibrator.MinimumGain(queries), 9);
        Assert.Equal(result.DefaultGap, result.BestGap);
        Assert.Equal(1, result.Settings.VotingNeighbours);
        Assert.Equal(5, result.Settings.Gain);
        // The same grid point wins clearly once the outlier misleads more queries than one.
        queries.AddRange(Enumerable.Range(0, 4).Select(i => (Unit(1, 0, 0.01f * i, 1), (string?)"L0")));
        var clear = ScorerCalibrator.Calibrate(queries, gallery, distractors, configured);
        Assert.True(clear.BestGap > clear.DefaultGap + ScorerCalibrator.MinimumGain(queries), $"{clear.BestGap} vs {clear.DefaultGap}");
        Assert.True(clear.Settings.VotingNeighbours >= 3);
    }
}
