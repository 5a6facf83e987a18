using Landmark.Contracts.Api.V1;
using Xunit;
using Outcome = Landmark.Contracts.Api.V1.TrainingJob.Types.PublishOutcome;

namespace Landmark.Cli.Tests;

/// <summary><c>landmark train</c>'s exit code from the job's structured publish outcome (README, "Exit codes").</summary>
public class ExitCodeTests
{
    [Fact]
    public void A_model_the_publish_gate_kept_back_exits_3()
    {
        Assert.Equal(3, ExitCodes.PublishGated);
        Assert.Equal(ExitCodes.PublishGated, ExitCodes.OfPublishOutcome(Outcome.GatedBelowLive));
    }

    [Fact]
    public void A_job_that_did_not_ask_for_publishing_exits_0_without_waiting_for_a_roll_out()
    {
        Assert.Equal(ExitCodes.Ok, ExitCodes.OfPublishOutcome(Outcome.NotRequested));
    }

    [Theory]
    [InlineData(Outcome.Published)]
    [InlineData(Outcome.PublishedNoLiveModel)]
    [InlineData(Outcome.PublishedWithoutGate)]
    [InlineData(Outcome.PublishedForced)]
    public void A_published_model_leaves_the_exit_code_to_its_roll_out(Outcome outcome)
    {
        Assert.Null(ExitCodes.OfPublishOutcome(outcome));
    }

    [Fact]
    public void An_unreported_outcome_is_checked_against_the_roll_out_rather_than_guessed()
    {
        Assert.Null(ExitCodes.OfPublishOutcome(Outcome.Unspecified));
    }

    [Fact]
    public void Every_outcome_the_api_defines_is_either_settled_or_left_to_the_roll_out_by_its_name()
    {
        // A new outcome must be placed: those whose name says the model is not rolled out settle the exit code.
        foreach (var outcome in Enum.GetValues<Outcome>())
        {
            var settled = ExitCodes.OfPublishOutcome(outcome);
            var rolledOut = outcome.ToString().StartsWith("Published", StringComparison.Ordinal);
            Assert.True(rolledOut || outcome == Outcome.Unspecified ? settled is null : settled is not null, $"{outcome} → {settled}");
        }
    }

    [Fact]
    public void The_exit_code_comes_from_the_outcome_not_from_the_reason_text()
    {
        var job = new TrainingJob { PublishOutcome = Outcome.Published, PublishDecision = "not published: a reason worded like a refusal" };
        Assert.Null(ExitCodes.OfPublishOutcome(job.PublishOutcome));
    }
}
