using Landmark.Embedding;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Landmark.Embedder;

/// <summary>
/// Loads the live model from the registry at start-up (publishing the built-in baseline when the registry is empty)
/// and hands it to the <see cref="BatchingEmbedder"/>. Calls wait on <see cref="Ready"/> until then.
/// </summary>
public sealed class ModelHost(ModelRegistry registry, BatchingEmbedder embedder, IOptions<EmbedderOptions> options,
    ILogger<ModelHost> logger) : BackgroundService, IHealthCheck
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Ready => _ready.Task;

    public string? LiveVersion { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var live = await registry.EnsureBaselineLiveAsync(stoppingToken);
            await LoadAsync(live.Version, stoppingToken);
            _ready.TrySetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogCritical(ex, "Could not load the live model");
            _ready.TrySetException(ex);
            throw;
        }
    }

    /// <summary>Loads <paramref name="version"/> and swaps it in; in-flight batches finish on the old model.</summary>
    public async Task LoadAsync(string version, CancellationToken cancellationToken)
    {
        var (onnx, manifest) = await registry.LoadAsync(version, cancellationToken);
        var model = new OnnxEmbeddingModel(onnx, manifest, options.Value);
        embedder.SwapModel(model);
        LiveVersion = manifest.Version;
        logger.LogInformation("Model {Version} ({Kind}, {Dimension}-d, input {Size}px) is live", manifest.Version, manifest.Kind, manifest.Dimension, manifest.InputSize);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Ready.IsCompletedSuccessfully
            ? HealthCheckResult.Healthy($"model {LiveVersion}")
            : Ready.IsFaulted ? HealthCheckResult.Unhealthy("the live model could not be loaded", Ready.Exception) : HealthCheckResult.Unhealthy("loading the model"));
}
