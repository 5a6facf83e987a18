using System.Globalization;
using System.Text.Json.Serialization;

namespace Landmark.Trainer;

/// <summary>What the publish gate decided (kept in the job record; the API's <c>TrainingJob.PublishOutcome</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PublishOutcome>))]
public enum PublishOutcome
{
    /// <summary>The job did not ask for publishing: the model is registered only.</summary>
    NotRequested,
    /// <summary>The model scored at least the live model's GAP on the held-out set.</summary>
    Published,
    /// <summary>No model was live to compare with.</summary>
    PublishedNoLiveModel,
    /// <summary>The job had no held-out set: published without the gate.</summary>
    PublishedWithoutGate,
    /// <summary>ForcePublish: published although it scored below the live model (or could not be compared).</summary>
    PublishedForced,
    /// <summary>It scored below the live model on the held-out set: registered, not published.</summary>
    GatedBelowLive,
}

/// <summary>Whether a trained model goes live, and why (the outcome for programs, the reason for people; both are kept
/// in the job record and the reason is shown by the CLI).</summary>
public sealed record PublishDecision(PublishOutcome Outcome, string Reason)
{
    /// <summary>The model is rolled out.</summary>
    public bool Publish => Outcome is PublishOutcome.Published or PublishOutcome.PublishedNoLiveModel or PublishOutcome.PublishedWithoutGate
        or PublishOutcome.PublishedForced;
}

/// <summary>
/// The publish gate: a job that asked for publishing rolls its model out only when the model's GAP on the job's held-out
/// set (with non-landmark distractors) is at least the live model's GAP on the same set. Otherwise the model is
/// registered, not published, and the reason says by how much it fell short; <c>ForcePublish</c> overrides.
/// </summary>
public static class PublishGate
{
    public static PublishDecision Decide(TrainingJobRecord job, HeldOutResult? trained, HeldOutResult? live)
    {
        if (!job.Publish)
        {
            return new PublishDecision(PublishOutcome.NotRequested, "not published (publish was not asked for)");
        }
        if (trained is null)
        {
            return job.ForcePublish
                ? new PublishDecision(PublishOutcome.PublishedForced, "published (forced)")
                : new PublishDecision(PublishOutcome.PublishedWithoutGate,
                    "published without the gate: the job has no held-out set (no validation images or too few non-landmark images)");
        }
        if (live is null)
        {
            return new PublishDecision(PublishOutcome.PublishedNoLiveModel,
                string.Create(CultureInfo.InvariantCulture, $"published: held-out GAP {trained.Gap:F4}; no model was live"));
        }
        if (trained.Gap >= live.Gap)
        {
            return new PublishDecision(PublishOutcome.Published, string.Create(CultureInfo.InvariantCulture,
                $"published: held-out GAP {trained.Gap:F4} ≥ {live.Gap:F4} of the live model {live.Version}"));
        }
        if (job.ForcePublish)
        {
            return new PublishDecision(PublishOutcome.PublishedForced, string.Create(CultureInfo.InvariantCulture,
                $"published (forced): held-out GAP {trained.Gap:F4} < {live.Gap:F4} of the live model {live.Version}"));
        }
        return new PublishDecision(PublishOutcome.GatedBelowLive, string.Create(CultureInfo.InvariantCulture,
            $"not published: held-out GAP {trained.Gap:F4} < {live.Gap:F4} of the live model {live.Version} (publish it anyway with `landmark models publish {trained.Version}`, or train with --force)"));
    }
}
