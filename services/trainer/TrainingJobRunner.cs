using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Threading.Channels;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Recognition;
using Landmark.Training;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace Landmark.Trainer;

/// <summary>A progress update of a job: its record, plus the epoch report or the step that produced it.</summary>
public sealed record TrainingUpdate(TrainingJobRecord Job, EpochReport? Epoch = null, string? Message = null);

/// <summary>
/// Runs training jobs one at a time on a dedicated thread: loads the data, trains with checkpoints every
/// <see cref="TrainingOptions.CheckpointIntervalSteps"/>, exports ONNX, registers the model and (when asked) rolls it out.
/// At start-up every job that was not finished — the process was killed, the pod evicted — is resumed from its last
/// checkpoint. Progress goes to subscribers (gRPC streams) and to the <c>Landmark.Trainer</c> meter.
/// </summary>
public sealed class TrainingJobRunner(
    TrainingJobStore jobs,
    TrainingData data,
    ModelRegistry registry,
    IModelRollout rollout,
    HeldOutEvaluation heldOut,
    IOptions<ScorerOptions> scorerOptions,
    TrainerMode mode,
    ILogger<TrainingJobRunner> logger) : BackgroundService
{
    private static readonly Meter Meter = new("Landmark.Trainer");
    private static readonly Counter<long> Steps = Meter.CreateCounter<long>("landmark.trainer.steps");
    private static readonly Histogram<double> EpochLoss = Meter.CreateHistogram<double>("landmark.trainer.epoch_loss");
    private static readonly Histogram<double> EpochImagesPerSecond = Meter.CreateHistogram<double>("landmark.trainer.images_per_second", "{image}/s");
    private static readonly Histogram<double> ValidationGap = Meter.CreateHistogram<double>("landmark.trainer.validation_gap");

    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, TrainingJobRecord> _latest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Channel<TrainingUpdate>, byte>> _subscribers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _cancellations = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when unfinished jobs from before the start have been queued again.</summary>
    public Task Recovered => _recovered.Task;

    /// <summary>Queues a new job; a known job id returns that job unchanged (with <paramref name="runHere"/>, an
    /// unfinished known job is queued to run, and resume, in this process).</summary>
    public async Task<TrainingJobRecord> SubmitAsync(TrainingJobRecord job, CancellationToken cancellationToken, bool runHere = false)
    {
        await Recovered.WaitAsync(cancellationToken);
        if (await GetAsync(job.JobId, cancellationToken) is { } known)
        {
            if (runHere && !known.IsTerminal)
            {
                await _queue.Writer.WriteAsync(known.JobId, cancellationToken);
            }
            return known;
        }
        await jobs.SaveAsync(job, cancellationToken);
        Publish(new TrainingUpdate(job, Message: "queued"));
        await _queue.Writer.WriteAsync(job.JobId, cancellationToken);
        return job;
    }

    public async Task<TrainingJobRecord?> GetAsync(string jobId, CancellationToken cancellationToken) =>
        _latest.TryGetValue(jobId, out var job) ? job : await jobs.GetAsync(jobId, cancellationToken);

    public async Task<IReadOnlyList<TrainingJobRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var stored = await jobs.ListAsync(cancellationToken);
        return stored.Select(j => _latest.TryGetValue(j.JobId, out var live) ? live : j).ToList();
    }

    /// <summary>Subscribes to a job's updates; dispose the returned handle to stop.</summary>
    public (ChannelReader<TrainingUpdate> Updates, IDisposable Subscription) Subscribe(string jobId)
    {
        var channel = Channel.CreateBounded<TrainingUpdate>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
        var set = _subscribers.GetOrAdd(jobId, _ => new ConcurrentDictionary<Channel<TrainingUpdate>, byte>());
        set[channel] = 0;
        return (channel.Reader, new Unsubscribe(() => set.TryRemove(channel, out _)));
    }

    public async Task<TrainingJobRecord?> CancelAsync(string jobId, CancellationToken cancellationToken)
    {
        if (_cancellations.TryGetValue(jobId, out var running))
        {
            await running.CancelAsync();
            return await GetAsync(jobId, cancellationToken);
        }
        var job = await GetAsync(jobId, cancellationToken);
        if (job is { IsTerminal: false })
        {
            job = await UpdateAsync(job with { State = TrainingJobState.Cancelled }, null, "cancelled", cancellationToken);
        }
        return job;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogNumericsCheck();
        try
        {
            await jobs.EnsureBucketAsync(stoppingToken);
            foreach (var job in await jobs.ListAsync(stoppingToken))
            {
                if (!job.IsTerminal && !mode.OneShot && job.Owner is null)
                {
                    logger.LogInformation("Resuming training job {JobId} ({State}, step {Step}/{TotalSteps})", job.JobId, job.State, job.CheckpointStep, job.TotalSteps);
                    _latest[job.JobId] = job;
                    await _queue.Writer.WriteAsync(job.JobId, stoppingToken);
                }
            }
            _recovered.TrySetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogCritical(ex, "Could not read the training jobs");
            _recovered.TrySetException(ex);
            throw;
        }

        // Training is CPU/GPU-bound and synchronous: one dedicated thread, jobs in order.
        await Task.Factory.StartNew(async () =>
        {
            await foreach (var jobId in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                await RunAsync(jobId, stoppingToken);
            }
        }, stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    private async Task RunAsync(string jobId, CancellationToken stoppingToken)
    {
        var job = await jobs.GetAsync(jobId, stoppingToken);
        if (job is null || job.IsTerminal)
        {
            return;
        }
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _cancellations[jobId] = cancel;
        try
        {
            job = await TrainAsync(job, cancel.Token);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the job stays unfinished and resumes at the next start.
            logger.LogInformation("Training job {JobId} interrupted by shutdown; it resumes from its checkpoint", jobId);
        }
        catch (OperationCanceledException)
        {
            // The latest record (class map, history, checkpoint step), not the one the run started from.
            await UpdateAsync(Latest(jobId, job) with { State = TrainingJobState.Cancelled }, null, "cancelled", CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Training job {JobId} failed", jobId);
            await UpdateAsync(Latest(jobId, job) with { State = TrainingJobState.Failed, Error = ex.Message }, null, ex.Message, CancellationToken.None);
        }
        finally
        {
            _cancellations.TryRemove(jobId, out _);
        }
    }

    private async Task<TrainingJobRecord> TrainAsync(TrainingJobRecord job, CancellationToken ct)
    {
        var options = job.Options;
        var checkpoint = await jobs.GetCheckpointAsync(job.JobId, ct);
        var resumed = checkpoint is not null || job.State != TrainingJobState.Queued;
        job = await UpdateAsync(job with { State = TrainingJobState.Loading, Resumes = job.Resumes + (resumed ? 1 : 0) }, null,
            checkpoint is null ? "loading images" : $"resuming from the checkpoint at step {checkpoint.Step}", ct);

        if (job.Classes.Count == 0)
        {
            var gallery = await data.ListGalleryAsync(ct);
            var (classes, train, validation) = TrainingData.Split(gallery, options);
            if (classes.Count < 2)
            {
                throw new InvalidOperationException(
                    $"training needs at least 2 landmarks with {options.MinImagesPerClass}+ indexed images; the gallery has {gallery.Count} labelled images in {classes.Count} such landmarks — import a dataset first");
            }
            var nonLandmarks = options.CalibrateScorer ? await data.ListNonLandmarksAsync(ct) : [];
            job = await UpdateAsync(job with { Classes = classes, Train = train, Validation = validation, NonLandmarks = [.. nonLandmarks] }, null,
                $"{classes.Count} landmarks, {train.Count} training and {validation.Count} validation images, {nonLandmarks.Count} non-landmark images", ct);
        }

        var stopwatch = Stopwatch.StartNew();
        var loadSize = (int)Math.Ceiling(options.MaxImageSize * 1.15);
        var threads = Math.Max(2, Environment.ProcessorCount);
        var validationSamples = options.ValidationFraction > 0 ? await data.LoadAsync(job.Validation, options.ImageSize, threads, ct) : [];
        // The training images at the augmentation source size and, for validation, at the model's input size: one read each.
        var trainSets = await data.LoadAsync(job.Train, validationSamples.Count > 0 ? [loadSize, options.ImageSize] : [loadSize], threads, ct);
        var samples = trainSets[0];
        var galleryForValidation = validationSamples.Count > 0 ? trainSets[1] : [];
        logger.LogInformation("Job {JobId}: decoded {Train} training and {Validation} validation images in {Seconds:F1} s",
            job.JobId, samples.Count, validationSamples.Count, stopwatch.Elapsed.TotalSeconds);
        if (samples.Count == 0)
        {
            throw new InvalidOperationException("none of the training images could be read from the object store");
        }

        var trainer = new MetricLearningTrainer(options);
        var totalSteps = (long)trainer.StepsPerEpoch(samples.Count) * options.Epochs;
        job = await UpdateAsync(job with { State = TrainingJobState.Training, TotalSteps = totalSteps }, null, "training", ct);

        var current = job;
        var lastStepPublished = Stopwatch.StartNew();
        var hooks = new TrainingHooks
        {
            Step = (step, total, loss) =>
            {
                Steps.Add(1);
                current = current with { Step = step, Epoch = (int)(step / Math.Max(1, total / options.Epochs)), RunningLoss = loss };
                _latest[current.JobId] = current;
                if (lastStepPublished.ElapsedMilliseconds >= 250 || step == total)
                {
                    lastStepPublished.Restart();
                    Publish(new TrainingUpdate(current));
                }
            },
            NonFinite = (step, cause) =>
            {
                logger.LogWarning("Job {JobId}: step {Step} skipped: {Cause} (learning rate halved)", current.JobId, step, cause);
                current = current with { NonFiniteSteps = current.NonFiniteSteps + 1 };
                _latest[current.JobId] = current;
            },
            Validate = validationSamples.Count == 0 ? null : network =>
            {
                var queries = Embed(network, validationSamples, options.ImageSize);
                var reference = Embed(network, galleryForValidation, options.ImageSize);
                return TrainingData.Validate(queries, validationSamples.Select(s => s.Label).ToList(), reference, galleryForValidation.Select(s => s.Label).ToList(), scorerOptions.Value);
            },
            Epoch = report =>
            {
                EpochLoss.Record(report.Loss);
                EpochImagesPerSecond.Record(report.ImagesPerSecond);
                if (report.ValidationGap is { } gap)
                {
                    ValidationGap.Record(gap);
                }
                var history = current.History.Where(h => h.Epoch != report.Epoch).Append(report).OrderBy(h => h.Epoch).ToList();
                current = current with { History = history, Epoch = report.Epoch };
                current = UpdateAsync(current, report, null, CancellationToken.None).GetAwaiter().GetResult();
            },
            Checkpoint = cp =>
            {
                jobs.SaveCheckpointAsync(current.JobId, cp, CancellationToken.None).GetAwaiter().GetResult();
                current = current with { CheckpointStep = cp.Step };
                current = UpdateAsync(current, null, null, CancellationToken.None).GetAwaiter().GetResult();
            },
        };
        var network = trainer.Train(samples, current.Classes.Count, hooks, checkpoint, ct);
        job = current;

        job = await UpdateAsync(job with { State = TrainingJobState.Exporting }, null, "exporting ONNX", ct);
        var last = job.History.LastOrDefault();
        var metrics = new Dictionary<string, double>
        {
            ["epochs"] = options.Epochs,
            ["classes"] = job.Classes.Count,
            ["train_images"] = samples.Count,
        };
        if (last is not null)
        {
            metrics["train_loss"] = last.Loss;
            metrics["train_accuracy"] = last.Accuracy;
            metrics["images_per_second"] = job.History.Average(h => h.ImagesPerSecond);
            if (last.ValidationGap is { } gap)
            {
                metrics["val_gap"] = gap;
                metrics["val_accuracy"] = last.ValidationAccuracy ?? 0;
            }
        }
        var onnx = OnnxExporter.Export(network, options.ImageSize, new Dictionary<string, string> { ["training_job"] = job.JobId });
        network.Dispose();
        var version = "trained-" + Convert.ToHexStringLower(SHA256.HashData(onnx))[..12];
        var manifest = new ModelManifest
        {
            Version = version,
            Kind = ModelManifest.KindTrained,
            Description = (options.Backbone.IsPretrained
                    ? $"{options.Backbone.Pretrained} fine-tuned (stages < {options.Backbone.FrozenStages} frozen)"
                    : $"{options.Backbone.Family} {string.Join('/', options.Backbone.Widths)} from scratch") +
                $" + GeM + {options.EmbeddingDimension}-d neck, {options.Head}, {options.Epochs} epochs at {options.ImageSize}px on {job.Classes.Count} landmarks (job {job.JobId})",
            InputSize = options.ImageSize,
            Dimension = options.EmbeddingDimension,
            Metrics = metrics,
        };

        // The held-out set (validation images + non-landmark queries against the training images and distractors), scored
        // through ONNX Runtime: the new model's scorer settings are calibrated on it, and the publish gate compares the
        // new model with the live one on it.
        HeldOutResult? trained = null;
        HeldOutResult? live = null;
        if (HeldOutEvaluation.IsPossible(job))
        {
            job = await UpdateAsync(job with { State = TrainingJobState.Evaluating }, null, "measuring the new and the live model on the held-out set", ct);
            trained = await heldOut.EvaluateAsync(job, onnx, manifest, scorerOptions.Value, options.CalibrateScorer, threads, ct);
            if (trained.Calibration is { } calibration)
            {
                metrics["calibration_gap_default"] = calibration.DefaultGap;
                metrics["calibration_gap"] = calibration.BestGap;
                if (calibration.BestGap > calibration.DefaultGap)
                {
                    manifest = manifest with { ScorerSettings = calibration.Settings };
                    trained = trained with { Gap = calibration.BestGap };
                }
                logger.LogInformation("Job {JobId}: scorer calibration on {Queries} held-out queries: GAP {Default:F4} with the configured settings, {Best:F4} with {Settings}",
                    job.JobId, calibration.Queries, calibration.DefaultGap, calibration.BestGap, string.Join(", ", calibration.Settings.ToDictionary().Select(kv => $"{kv.Key}={kv.Value}")));
            }
            metrics["holdout_gap"] = trained.Gap;
            metrics["holdout_accuracy"] = trained.Accuracy;
            if (await registry.GetLiveVersionAsync(ct) is { } liveVersion)
            {
                var (liveOnnx, liveManifest) = await registry.LoadAsync(liveVersion, ct);
                // Calibrated the same way, so the gate compares each model at its best settings on this set.
                live = await heldOut.EvaluateAsync(job, liveOnnx, liveManifest, scorerOptions.Value, calibrate: true, threads, ct);
                if (live.Calibration is { } liveCalibration && liveCalibration.BestGap > live.Gap)
                {
                    live = live with { Gap = liveCalibration.BestGap };
                }
                metrics["holdout_gap_live"] = live.Gap;
            }
        }
        manifest = manifest with { Metrics = metrics.Where(kv => double.IsFinite(kv.Value)).ToDictionary() };
        await registry.RegisterAsync(onnx, manifest, ct);
        logger.LogInformation("Job {JobId} produced model {Version} (val GAP {Gap})", job.JobId, version, metrics.GetValueOrDefault("val_gap", double.NaN));
        var decision = PublishGate.Decide(job, trained, live);
        job = job with { ModelVersion = version, Metrics = metrics, PublishDecision = decision.Reason };
        if (decision.Publish)
        {
            await rollout.PublishAsync(version, ct);
        }
        else if (job.Publish)
        {
            logger.LogWarning("Job {JobId}: model {Version} registered but not published: {Reason}", job.JobId, version, decision.Reason);
        }
        return await UpdateAsync(job with { State = TrainingJobState.Completed }, null,
            decision.Publish ? $"model {version} registered and rolling out ({decision.Reason})" : $"model {version} registered; {decision.Reason}", ct);
    }

    private static float[][] Embed(EmbeddingNetwork network, IReadOnlyList<TrainingSample> samples, int size)
    {
        var result = new float[samples.Count][];
        var dimension = network.Dimension;
        for (var start = 0; start < samples.Count; start += 32)
        {
            var count = Math.Min(32, samples.Count - start);
            var pixels = new float[count * 3 * size * size];
            for (var i = 0; i < count; i++)
            {
                samples[start + i].Pixels.CopyTo(pixels.AsSpan(i * 3 * size * size));
            }
            using var scope = torch.NewDisposeScope();
            var device = network.parameters().First().device;
            var output = network.forward(torch.tensor(pixels, [count, 3, size, size]).to(device)).cpu();
            var flat = output.data<float>().ToArray();
            for (var i = 0; i < count; i++)
            {
                result[start + i] = flat.AsSpan(i * dimension, dimension).ToArray();
            }
        }
        return result;
    }

    /// <summary>The CPU numerics self-check at start-up: a failure is logged with the CPU's features here, and every job
    /// is then refused with the same reason (<see cref="CpuNumerics.EnsureTrustworthy"/>).</summary>
    private void LogNumericsCheck()
    {
        var result = CpuNumerics.SelfCheck();
        if (result.Passed)
        {
            logger.LogInformation("CPU numerics self-check {Result}", result);
        }
        else
        {
            logger.LogCritical("CPU numerics self-check {Result}: training jobs will be refused", result);
        }
    }

    private TrainingJobRecord Latest(string jobId, TrainingJobRecord fallback) => _latest.TryGetValue(jobId, out var latest) ? latest : fallback;

    private async Task<TrainingJobRecord> UpdateAsync(TrainingJobRecord job, EpochReport? epoch, string? message, CancellationToken cancellationToken)
    {
        job = job with { UpdatedAt = DateTimeOffset.UtcNow };
        await jobs.SaveAsync(job, cancellationToken);
        Publish(new TrainingUpdate(job, epoch, message));
        return job;
    }

    private void Publish(TrainingUpdate update)
    {
        _latest[update.Job.JobId] = update.Job;
        if (_subscribers.TryGetValue(update.Job.JobId, out var set))
        {
            foreach (var channel in set.Keys)
            {
                channel.Writer.TryWrite(update);
            }
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
