using System.Globalization;

namespace Landmark.Trainer;

/// <summary>Whether a trained model goes live, and why (the reason is kept in the job record and shown by the CLI).</summary>
public sealed record PublishDecision(bool Publish, string Reason);

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
            return new PublishDecision(false, "not published (publish was not asked for)");
        }
        if (trained is null)
        {
            return new PublishDecision(true, job.ForcePublish
                ? "published (forced)"
                : "published without the gate: the job has no held-out set (no validation images or too few non-landmark images)");
        }
        if (live is null)
        {
            return new PublishDecision(true, string.Create(CultureInfo.InvariantCulture, $"published: held-out GAP {trained.Gap:F4}; no model was live"));
        }
        if (trained.Gap >= live.Gap)
        {
            return new PublishDecision(true, string.Create(CultureInfo.InvariantCulture,
                $"published: held-out GAP {trained.Gap:F4} ≥ {live.Gap:F4} of the live model {live.Version}"));
        }
        if (job.ForcePublish)
        {
            return new PublishDecision(true, string.Create(CultureInfo.InvariantCulture,
                $"published (forced): held-out GAP {trained.Gap:F4} < {live.Gap:F4} of the live model {live.Version}"));
        }
        return new PublishDecision(false, string.Create(CultureInfo.InvariantCulture,
            $"not published: held-out GAP {trained.Gap:F4} < {live.Gap:F4} of the live model {live.Version} (publish it anyway with `landmark models publish {trained.Version}`, or train with --force)"));
    }
}
