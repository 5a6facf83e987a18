using Landmark.Trainer;
using Landmark.Training;
using Xunit;

namespace Landmark.Rollout.Tests;

public class PublishGateTests
{
    private static TrainingJobRecord Job(bool publish = true, bool force = false) =>
        new() { JobId = "j", Options = new TrainingOptions(), Publish = publish, ForcePublish = force };

    private static HeldOutResult Result(string version, double gap) => new(version, gap, gap, 20, null);

    [Fact]
    public void A_model_scoring_below_the_live_model_on_the_held_out_set_is_not_published_and_the_reason_says_by_how_much()
    {
        var decision = PublishGate.Decide(Job(), Result("trained-a", 0.61), Result("imagenet-resnet18-x", 0.93));
        Assert.False(decision.Publish);
        Assert.Equal("not published: held-out GAP 0.6100 < 0.9300 of the live model imagenet-resnet18-x (publish it anyway with `landmark models publish trained-a`, or train with --force)", decision.Reason);
    }

    [Theory]
    [InlineData(0.95, 0.93)]
    [InlineData(0.93, 0.93)]
    public void A_model_at_least_as_good_as_the_live_model_is_published(double trained, double live)
    {
        var decision = PublishGate.Decide(Job(), Result("trained-a", trained), Result("live", live));
        Assert.True(decision.Publish);
        Assert.StartsWith("published: held-out GAP", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Force_publishes_a_worse_model_and_says_so()
    {
        var decision = PublishGate.Decide(Job(force: true), Result("trained-a", 0.5), Result("live", 0.9));
        Assert.True(decision.Publish);
        Assert.StartsWith("published (forced): held-out GAP 0.5000 < 0.9000", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_job_that_did_not_ask_for_publishing_is_never_published()
    {
        Assert.False(PublishGate.Decide(Job(publish: false), Result("trained-a", 1), Result("live", 0.1)).Publish);
    }

    [Fact]
    public void Without_a_held_out_set_or_a_live_model_the_gate_lets_the_model_through_and_says_why()
    {
        var noHeldOut = PublishGate.Decide(Job(), null, null);
        Assert.True(noHeldOut.Publish);
        Assert.Contains("no held-out set", noHeldOut.Reason, StringComparison.Ordinal);
        var noLive = PublishGate.Decide(Job(), Result("trained-a", 0.4), null);
        Assert.True(noLive.Publish);
        Assert.Contains("no model was live", noLive.Reason, StringComparison.Ordinal);
    }
}
