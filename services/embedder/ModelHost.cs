using System.Collections.Concurrent;
using System.Diagnostics;
using Landmark.Embedding;
using Landmark.Imaging;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Landmark.Embedder;

/// <summary>
/// The embedder's models. The live one (loaded at start-up, publishing the built-in baseline when the registry is
/// empty) serves queries and freshly ingested images through the shared <see cref="BatchingEmbedder"/>; calls wait on
/// <see cref="Ready"/> until it is loaded. Other versions (the target of a roll-out, whose gallery is re-embedded in the
/// background) are loaded on demand by <see cref="GetEmbedderAsync"/>, each in its own batching embedder, and unloaded
/// after <see cref="EmbedderOptions.IdleModelSeconds"/> without use. The live model switches on <see cref="ActivateAsync"/>
/// (the <c>ModelActivated</c> event) and, as a safety net, when the registry's live pointer changes
/// (checked every <see cref="EmbedderOptions.LiveModelPollSeconds"/>).
/// </summary>
public sealed class ModelHost(ModelRegistry registry, BatchingEmbedder embedder, ImagePipeline imaging, IOptions<EmbedderOptions> options,
    ILoggerFactory loggers, ILogger<ModelHost> logger) : BackgroundService, IHealthCheck
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _switch = new(1, 1);
    private readonly ConcurrentDictionary<string, OtherModel> _others = new(StringComparer.Ordinal);
    private volatile string? _liveVersion;

    public Task Ready => _ready.Task;

    public string? LiveVersion => _liveVersion;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var live = await registry.EnsureDefaultLiveAsync(options.Value, stoppingToken);
            await ActivateAsync(live.Version, stoppingToken);
            _ready.TrySetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogCritical(ex, "Could not load the live model");
            _ready.TrySetException(ex);
            throw;
        }

        var poll = options.Value.LiveModelPollSeconds;
        var period = TimeSpan.FromSeconds(poll > 0 ? Math.Min(poll, options.Value.IdleModelSeconds) : options.Value.IdleModelSeconds);
        using var timer = new PeriodicTimer(period);
        var lastPoll = Stopwatch.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (poll > 0 && Stopwatch.GetElapsedTime(lastPoll) >= TimeSpan.FromSeconds(poll))
                    {
                        lastPoll = Stopwatch.GetTimestamp();
                        if (await registry.GetLiveVersionAsync(stoppingToken) is { } version && version != _liveVersion)
                        {
                            logger.LogInformation("The registry names {Version} live (serving {Serving}); switching", version, _liveVersion);
                            await ActivateAsync(version, stoppingToken);
                        }
                    }
                    await UnloadIdleAsync(TimeSpan.FromSeconds(options.Value.IdleModelSeconds));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogError(ex, "Checking the live model failed; retrying in {Period}", period);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Makes <paramref name="version"/> the query model (no-op when it already is). In-flight batches finish
    /// on the old model.</summary>
    public async Task ActivateAsync(string version, CancellationToken cancellationToken)
    {
        await _switch.WaitAsync(cancellationToken);
        try
        {
            if (_liveVersion == version)
            {
                return;
            }
            var previous = _liveVersion;
            var (onnx, manifest) = await registry.LoadAsync(version, cancellationToken);
            var model = new OnnxEmbeddingModel(onnx, manifest, options.Value);
            embedder.SwapModel(model);
            _liveVersion = manifest.Version;
            logger.LogInformation("Model {Version} ({Kind}, {Dimension}-d, input {Size}px) is live (was {Previous})",
                manifest.Version, manifest.Kind, manifest.Dimension, manifest.InputSize, previous ?? "none");
        }
        finally
        {
            _switch.Release();
        }
    }

    /// <summary>The embedder for <paramref name="version"/>: the shared one when it is live, otherwise one loaded for it
    /// (and kept while it is used).</summary>
    public async Task<BatchingEmbedder> GetEmbedderAsync(string version, CancellationToken cancellationToken)
    {
        await Ready.WaitAsync(cancellationToken);
        if (version == _liveVersion)
        {
            return embedder;
        }
        // GetOrAdd may run the factory on several threads at once and keep one result: the factory only makes the
        // holder, and the load starts when the kept holder is first read, so a burst of messages loads the model once.
        var other = _others.GetOrAdd(version, v => new OtherModel(v, () => LoadOtherAsync(v)));
        other.Touch();
        try
        {
            return await other.Embedder.WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Do not cache a failed load: the next message tries again.
            _others.TryRemove(new KeyValuePair<string, OtherModel>(version, other));
            throw;
        }
    }

    private async Task<BatchingEmbedder> LoadOtherAsync(string version)
    {
        var (onnx, manifest) = await registry.LoadAsync(version);
        var model = new OnnxEmbeddingModel(onnx, manifest, options.Value);
        var other = new BatchingEmbedder(imaging, options, loggers.CreateLogger<BatchingEmbedder>());
        other.SwapModel(model);
        logger.LogInformation("Model {Version} ({Kind}, {Dimension}-d) loaded beside the live {Live}", manifest.Version, manifest.Kind,
            manifest.Dimension, _liveVersion);
        return other;
    }

    /// <summary>Unloads models other than the live one that were not used for <paramref name="idle"/>.</summary>
    public async Task UnloadIdleAsync(TimeSpan idle)
    {
        foreach (var (version, other) in _others)
        {
            if ((version == _liveVersion || other.IdleFor >= idle) && _others.TryRemove(new KeyValuePair<string, OtherModel>(version, other)))
            {
                await other.DisposeAsync();
                logger.LogInformation("Model {Version} unloaded (live is {Live})", version, _liveVersion);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var version in _others.Keys)
        {
            if (_others.TryRemove(version, out var other))
            {
                await other.DisposeAsync();
            }
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Ready.IsCompletedSuccessfully
            ? HealthCheckResult.Healthy($"model {LiveVersion}")
            : Ready.IsFaulted ? HealthCheckResult.Unhealthy("the live model could not be loaded", Ready.Exception) : HealthCheckResult.Unhealthy("loading the model"));

    private sealed class OtherModel(string version, Func<Task<BatchingEmbedder>> load) : IAsyncDisposable
    {
        private readonly Lazy<Task<BatchingEmbedder>> _embedder = new(load, LazyThreadSafetyMode.ExecutionAndPublication);
        private long _lastUsed = Stopwatch.GetTimestamp();

        public string Version { get; } = version;

        /// <summary>The loaded embedder; the first read starts the load.</summary>
        public Task<BatchingEmbedder> Embedder => _embedder.Value;

        public TimeSpan IdleFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastUsed));

        public void Touch() => Interlocked.Exchange(ref _lastUsed, Stopwatch.GetTimestamp());

        public async ValueTask DisposeAsync()
        {
            if (!_embedder.IsValueCreated || Embedder.IsFaulted || Embedder.IsCanceled)
            {
                return;
            }
            // A load still running finishes first, so its model is not leaked.
            await (await Embedder).DisposeAsync();
        }
    }
}
