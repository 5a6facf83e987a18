using Landmark.Recognition;
using Xunit;

namespace Landmark.Recognition.Tests;

public class GlobalAveragePrecisionTests
{
    [Fact]
    public void Perfect_predictions_score_one()
    {
        var result = GlobalAveragePrecision.Compute([new("a", 0.9, "a"), new("b", 0.2, "b")]);
        Assert.Equal(1.0, result.Gap, 12);
        Assert.Equal(1.0, result.Accuracy, 12);
    }

    [Fact]
    public void Precision_is_summed_at_correct_ranks_and_divided_by_landmark_queries()
    {
        // Ranked: a✓ (1/1), c✗, a✗ (non-landmark query), c✓ (2/4). Three landmark queries.
        var result = GlobalAveragePrecision.Compute(
        [
            new("a", 0.9, "a"),
            new("c", 0.8, "b"),
            new("a", 0.7, null),
            new("c", 0.6, "c"),
        ]);
        Assert.Equal((1.0 + 0.5) / 3, result.Gap, 12);
        Assert.Equal(2.0 / 3, result.Accuracy, 12);
        Assert.Equal(3, result.LandmarkQueries);
        Assert.Equal(4, result.Queries);
    }

    [Fact]
    public void Confident_wrong_answers_cost_more_than_unconfident_ones()
    {
        var wrongFirst = GlobalAveragePrecision.Compute([new("x", 0.9, null), new("a", 0.5, "a")]);
        var wrongLast = GlobalAveragePrecision.Compute([new("x", 0.1, null), new("a", 0.5, "a")]);
        Assert.Equal(0.5, wrongFirst.Gap, 12);
        Assert.Equal(1.0, wrongLast.Gap, 12);
    }

    [Fact]
    public void Queries_without_a_prediction_take_no_rank_but_count_in_the_denominator()
    {
        var result = GlobalAveragePrecision.Compute([new("a", 0.9, "a"), new(null, 0, "b")]);
        Assert.Equal(0.5, result.Gap, 12);
    }

    [Fact]
    public void Only_non_landmark_queries_give_zero_instead_of_dividing_by_zero()
    {
        var result = GlobalAveragePrecision.Compute([new("a", 0.9, null)]);
        Assert.Equal(0, result.Gap);
        Assert.Equal(0, result.LandmarkQueries);
    }
}
