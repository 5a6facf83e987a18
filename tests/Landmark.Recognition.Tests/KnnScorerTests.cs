using Landmark.Recognition;
using Xunit;

namespace Landmark.Recognition.Tests;

public class KnnScorerTests
{
    private static readonly KnnScorer Scorer = new(new ScorerOptions { VotingNeighbours = 5, Power = 3, NonLandmarkTopM = 3, NonLandmarkWeight = 1, Gain = 10, MinConfidence = 0.3 });

    private static GalleryNeighbour N(string landmark, double similarity) => new(Guid.NewGuid().ToString("N"), landmark, similarity);

    [Fact]
    public void Majority_of_similarity_weighted_votes_wins()
    {
        var prediction = Scorer.Score([N("a", 0.80), N("b", 0.79), N("b", 0.78), N("b", 0.77), N("a", 0.5)], []);
        Assert.Equal("b", prediction.LandmarkId);
        Assert.Equal("b", prediction.Candidates[0].LandmarkId);
        Assert.Equal(1.0, prediction.Candidates.Sum(c => c.Score), 9);
    }

    [Fact]
    public void Only_the_voting_neighbours_vote()
    {
        var prediction = Scorer.Score([N("a", 0.9), N("a", 0.9), N("b", 0.5), N("b", 0.5), N("b", 0.5), N("b", 0.5), N("b", 0.5), N("b", 0.5)], []);
        Assert.Equal("a", prediction.LandmarkId);
    }

    [Fact]
    public void Unanimous_close_neighbours_give_higher_confidence_than_split_votes()
    {
        var unanimous = Scorer.Score([N("a", 0.9), N("a", 0.88), N("a", 0.85)], [0.4]);
        var split = Scorer.Score([N("a", 0.9), N("b", 0.88), N("c", 0.85)], [0.4]);
        Assert.True(unanimous.Confidence > split.Confidence);
    }

    [Fact]
    public void Query_as_close_to_distractors_as_to_the_gallery_is_not_a_landmark()
    {
        var landmarkLike = Scorer.Score([N("a", 0.9), N("a", 0.88)], [0.3, 0.3, 0.3]);
        var distractorLike = Scorer.Score([N("a", 0.6), N("a", 0.58)], [0.9, 0.9, 0.9]);
        Assert.True(landmarkLike.IsLandmark);
        Assert.False(distractorLike.IsLandmark);
        Assert.True(landmarkLike.Confidence > distractorLike.Confidence);
        Assert.Equal("a", distractorLike.LandmarkId);
    }

    [Fact]
    public void Empty_gallery_answers_no_landmark_with_zero_confidence()
    {
        var prediction = Scorer.Score([], []);
        Assert.False(prediction.IsLandmark);
        Assert.Null(prediction.LandmarkId);
        Assert.Equal(0, prediction.Confidence);
    }

    [Fact]
    public void Confidence_stays_within_zero_and_one()
    {
        var prediction = Scorer.Score([N("a", 1.0)], [-1.0]);
        Assert.InRange(prediction.Confidence, 0, 1);
    }
}
