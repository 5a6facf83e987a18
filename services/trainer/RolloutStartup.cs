namespace Landmark.Trainer;

/// <summary>Resumes a model roll-out at start-up (<see cref="ModelRollout.ResumeAsync"/>), retrying while storage or
/// the broker are not reachable yet.</summary>
public sealed class RolloutStartup(ModelRollout rollout, ILogger<RolloutStartup> logger) : BackgroundService
{
    private const int MaxAttempts = 10;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await rollout.ResumeAsync(stoppingToken);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (attempt >= MaxAttempts)
                {
                    logger.LogError(ex, "Resuming the model roll-out failed {Attempts} times; publish it again with `landmark models publish`", attempt);
                    return;
                }
                logger.LogWarning(ex, "Resuming the model roll-out failed (attempt {Attempt}); retrying in {Delay}", attempt, RetryDelay);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }
}
