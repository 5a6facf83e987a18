namespace Landmark.Training;

/// <summary>Callbacks of a training run; all optional.</summary>
public sealed class TrainingHooks
{
    /// <summary>After every step: steps done, total steps, running loss.</summary>
    public Action<long, long, double>? Step { get; init; }

    /// <summary>After each epoch, with validation figures when <see cref="Validate"/> is set.</summary>
    public Action<EpochReport>? Epoch { get; init; }

    /// <summary>Validates the network (in eval mode, gradients off) after each epoch.</summary>
    public Func<EmbeddingNetwork, ValidationReport>? Validate { get; init; }

    /// <summary>After a step skipped for a non-finite loss or gradient: the step and what was not finite.</summary>
    public Action<long, string>? NonFinite { get; init; }

    /// <summary>Receives a checkpoint every <see cref="TrainingOptions.CheckpointIntervalSteps"/> and at each epoch end;
    /// store it durably before returning (training waits).</summary>
    public Action<TrainingCheckpoint>? Checkpoint { get; init; }
}
