using Landmark.Contracts.Api.V1;

namespace Landmark.Cli;

/// <summary>The CLI's exit codes (README, "Exit codes"): scripts branch on these.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A server error, a failed training job, a failed or superseded roll-out, an unreadable dataset.</summary>
    public const int Failed = 1;
    /// <summary>Bad usage or bad input: unknown options, a malformed value, files or a model the platform refused.</summary>
    public const int Usage = 2;
    /// <summary><c>train</c>: the model was trained and registered, but the publish gate kept it back.</summary>
    public const int PublishGated = 3;
    /// <summary>Ctrl+C (SIGINT, 128 + 2): the command stopped where it was (see <see cref="Interruption"/>).</summary>
    public const int Interrupted = 130;
    /// <summary>SIGTERM (128 + 15): the command stopped where it was (see <see cref="Interruption"/>).</summary>
    public const int Terminated = 143;

    /// <summary>
    /// <c>train</c>, once the job completed: the exit code its publish gate settles — <see cref="Ok"/> when publishing was
    /// not asked for, <see cref="PublishGated"/> when the gate kept the model back — or null when the model is being
    /// rolled out (the roll-out's end decides) or the trainer did not report an outcome (the roll-out is checked).
    /// </summary>
    public static int? OfPublishOutcome(TrainingJob.Types.PublishOutcome outcome) => outcome switch
    {
        TrainingJob.Types.PublishOutcome.NotRequested => Ok,
        TrainingJob.Types.PublishOutcome.GatedBelowLive => PublishGated,
        _ => null,
    };
}
