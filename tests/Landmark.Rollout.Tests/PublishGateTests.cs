using Landmark.Contracts.Api.V1;
using Landmark.Storage;
using Landmark.Testing;
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
    public void A_model_scoring_below_the_live_model_on_the_held_out_set_is_gated_and_the_reason_says_by_how_much()
    {
        var decision = PublishGate.Decide(Job(), Result("trained-a", 0.61), Result("imagenet-resnet18-x", 0.93));
        Assert.Equal(PublishOutcome.GatedBelowLive, decision.Outcome);
        Assert.False(decision.Publish);
        Assert.Equal("not published: held-out GAP 0.6100 < 0.9300 of the live model imagenet-resnet18-x (publish it anyway with `landmark models publish trained-a`, or train with --force)", decision.Reason);
    }

    [Theory]
    [InlineData(0.95, 0.93)]
    [InlineData(0.93, 0.93)]
    public void A_model_at_least_as_good_as_the_live_model_is_published(double trained, double live)
    {
        var decision = PublishGate.Decide(Job(), Result("trained-a", trained), Result("live", live));
        Assert.Equal(PublishOutcome.Published, decision.Outcome);
        Assert.True(decision.Publish);
        Assert.StartsWith("published: held-out GAP", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Force_publishes_a_worse_model_and_says_so()
    {
        var decision = PublishGate.Decide(Job(force: true), Result("trained-a", 0.5), Result("live", 0.9));
        Assert.Equal(PublishOutcome.PublishedForced, decision.Outcome);
        Assert.True(decision.Publish);
        Assert.StartsWith("published (forced): held-out GAP 0.5000 < 0.9000", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Force_does_not_change_the_outcome_of_a_model_that_passes_the_gate()
    {
        Assert.Equal(PublishOutcome.Published, PublishGate.Decide(Job(force: true), Result("trained-a", 0.95), Result("live", 0.9)).Outcome);
    }

    [Fact]
    public void A_job_that_did_not_ask_for_publishing_is_never_published()
    {
        var decision = PublishGate.Decide(Job(publish: false), Result("trained-a", 1), Result("live", 0.1));
        Assert.Equal(PublishOutcome.NotRequested, decision.Outcome);
        Assert.False(decision.Publish);
    }

    [Fact]
    public void Without_a_held_out_set_or_a_live_model_the_gate_lets_the_model_through_and_says_why()
    {
        var noHeldOut = PublishGate.Decide(Job(), null, null);
        Assert.Equal(PublishOutcome.PublishedWithoutGate, noHeldOut.Outcome);
        Assert.True(noHeldOut.Publish);
        Assert.Contains("no held-out set", noHeldOut.Reason, StringComparison.Ordinal);
        var noLive = PublishGate.Decide(Job(), Result("trained-a", 0.4), null);
        Assert.Equal(PublishOutcome.PublishedNoLiveModel, noLive.Outcome);
        Assert.True(noLive.Publish);
        Assert.Contains("no model was live", noLive.Reason, StringComparison.Ordinal);
        var forcedWithoutHeldOut = PublishGate.Decide(Job(force: true), null, Result("live", 0.9));
        Assert.Equal(PublishOutcome.PublishedForced, forcedWithoutHeldOut.Outcome);
        Assert.True(forcedWithoutHeldOut.Publish);
    }

    [Fact]
    public void Every_outcome_reaches_the_api_as_its_own_value_and_an_undecided_job_as_unspecified()
    {
        var api = Enum.GetValues<PublishOutcome>().Select(o => TrainingApi.ToProto(o)).ToList();
        Assert.DoesNotContain(TrainingJob.Types.PublishOutcome.Unspecified, api);
        Assert.Equal(api.Count, api.Distinct().Count());
        Assert.Equal(Enum.GetValues<TrainingJob.Types.PublishOutcome>().Where(o => o != TrainingJob.Types.PublishOutcome.Unspecified).Order(), api.Order());
        // The same names on both sides (NOT_REQUESTED ↔ NotRequested, ...).
        Assert.All(Enum.GetValues<PublishOutcome>(), o => Assert.Equal(o.ToString(), TrainingApi.ToProto(o).ToString()));
        Assert.Equal(TrainingJob.Types.PublishOutcome.Unspecified, TrainingApi.ToProto((PublishOutcome?)null));
    }

    [Fact]
    public async Task The_outcome_is_kept_in_the_stored_job_record_and_a_record_written_without_one_reads_as_undecided()
    {
        using var root = TestPaths.CreateTempDirectory("landmark-publish-outcome");
        var store = new TrainingJobStore(new LocalDiskObjectStore(root.Path));
        await store.EnsureBucketAsync(CancellationToken.None);
        await store.SaveAsync(Job() with { JobId = "gated", PublishOutcome = PublishOutcome.GatedBelowLive, PublishDecision = "not published: ..." }, CancellationToken.None);
        await store.SaveAsync(Job() with { JobId = "older" }, CancellationToken.None);
        Assert.Equal(PublishOutcome.GatedBelowLive, (await store.GetAsync("gated", CancellationToken.None))!.PublishOutcome);
        var older = (await store.GetAsync("older", CancellationToken.None))!;
        Assert.Null(older.PublishOutcome);
        Assert.Equal(TrainingJob.Types.PublishOutcome.Unspecified, TrainingApi.ToProto(older).PublishOutcome);
    }

    [Fact]
    public void The_job_reports_the_outcome_beside_the_reason()
    {
        var decision = PublishGate.Decide(Job(), Result("trained-a", 0.61), Result("live", 0.93));
        var job = TrainingApi.ToProto(Job() with { PublishOutcome = decision.Outcome, PublishDecision = decision.Reason });
        Assert.Equal(TrainingJob.Types.PublishOutcome.GatedBelowLive, job.PublishOutcome);
        Assert.Equal(decision.Reason, job.PublishDecision);
    }
}
