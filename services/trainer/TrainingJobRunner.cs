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

    /// <summary>One job, step by step: load its data, train, export ONNX, calibrate and compare on the held-out set,
    /// register the model, publish it (when the gate lets it). Each step records its state on the job.</summary>
    private async Task<TrainingJobRecord> TrainAsync(TrainingJobRecord job, CancellationToken ct)
    {
        var checkpoint = await jobs.GetCheckpointAsync(job.JobId, ct);
        (job, var images) = await LoadDataAsync(job, checkpoint, ct);
        (job, var network) = await TrainNetworkAsync(job, images, checkpoint, ct);
        (job, var model) = await ExportAsync(job, network, images, ct);
        (job, model) = await CalibrateAsync(job, model, LoaderThreads, ct);
        await RegisterAsync(job, model, ct);
        return await PublishAsync(job, model, ct);
    }

    /// <summary>The images of a job, decoded: training images at the augmentation source size, validation images and
    /// (for validation) the training images again at the model's input size.</summary>
    private sealed record LoadedImages(IReadOnlyList<TrainingSample> Train, IReadOnlyList<TrainingSample> Validation, IReadOnlyList<TrainingSample> GalleryForValidation);

    /// <summary>Threads decoding images (training data and the held-out set).</summary>
    private static int LoaderThreads => Math.Max(2, Environment.ProcessorCount);

    /// <summary>An exported model on its way to the registry, with the metrics and held-out results gathered so far.</summary>
    private sealed record ExportedModel(byte[] Onnx, ModelManifest Manifest, Dictionary<string, double> Metrics)
    {
        public string Version => Manifest.Version;

        public HeldOutResult? Trained { get; init; }

        public HeldOutResult? Live { get; init; }
    }

    /// <summary>Load data: the job's split of the gallery (made once, kept on the job so a resumed job trains on the
    /// same images) and the decoded images.</summary>
    private async Task<(TrainingJobRecord Job, LoadedImages Images)> LoadDataAsync(TrainingJobRecord job, TrainingCheckpoint? checkpoint, CancellationToken ct)
    {
        var options = job.Options;
        var resumed = checkpoint is not null || job.State != TrainingJobState.Queued;
        job = await UpdateAsync(job with { State = TrainingJobState.Loading, Resumes = job.Resumes + (resumed ? 1 : 0) }, null,
            checkpoint is null ? "loading images" : $"resuming from the checkpoint at step {checkpoint.Step}", ct);

        if (job.Classes.Count == 0)
        {
            var gallery = await data.WithPerceptualHashesAsync(await data.ListGalleryAsync(ct), Math.Max(2, Environment.ProcessorCount), ct);
            var (classes, train, validation) = TrainingData.Split(gallery, options);
            if (classes.Count < 2)
            {
                throw new InvalidOperationException(
                    $"training needs at least 2 landmarks with {options.MinImagesPerClass}+ indexed images; the gallery has {gallery.Count} labelled images in {classes.Count} such landmarks — import a dataset first");
            }
            var nonLandmarks = await data.ListNonLandmarksAsync(ct);
            job = await UpdateAsync(job with { Classes = classes, Train = train, Validation = validation, NonLandmarks = [.. nonLandmarks] }, null,
                $"{classes.Count} landmarks, {train.Count} training and {validation.Count} validation images, {nonLandmarks.Count} non-landmark images", ct);
        }

        var stopwatch = Stopwatch.StartNew();
        var loadSize = (int)Math.Ceiling(options.MaxImageSize * 1.15);
        var threads = LoaderThreads;
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
        return (job, new LoadedImages(samples, validationSamples, galleryForValidation));
    }

    /// <summary>Train: the network, from <paramref name="checkpoint"/> when there is one; progress, validation and
    /// checkpoints through <see cref="CreateHooks"/>.</summary>
    private async Task<(TrainingJobRecord Job, EmbeddingNetwork Network)> TrainNetworkAsync(TrainingJobRecord job, LoadedImages images,
        TrainingCheckpoint? checkpoint, CancellationToken ct)
    {
        var options = job.Options;
        var trainer = new MetricLearningTrainer(options);
        var totalSteps = (long)trainer.StepsPerEpoch(images.Train.Count) * options.Epochs;
        job = await UpdateAsync(job with { State = TrainingJobState.Training, TotalSteps = totalSteps }, null, "training", ct);

        var running = new RunningJob(job);
        var network = trainer.Train(images.Train, job.Classes.Count, CreateHooks(running, images), checkpoint, ct);
        return (running.Current, network);
    }

    /// <summary>The record of a job while it trains, updated by the training callbacks.</summary>
    private sealed class RunningJob(TrainingJobRecord job)
    {
        public TrainingJobRecord Current { get; set; } = job;
    }

    /// <summary>The training run's callbacks: step progress (published at most every 250 ms), skipped steps, validation
    /// after each epoch, epoch reports and checkpoints, each saved on <paramref name="running"/>.</summary>
    private TrainingHooks CreateHooks(RunningJob running, LoadedImages images)
    {
        var options = running.Current.Options;
        var lastStepPublished = Stopwatch.StartNew();
        return new TrainingHooks
        {
            Step = (step, total, loss) =>
            {
                Steps.Add(1);
                running.Current = running.Current with { Step = step, Epoch = (int)(step / Math.Max(1, total / options.Epochs)), RunningLoss = loss };
                _latest[running.Current.JobId] = running.Current;
                if (lastStepPublished.ElapsedMilliseconds >= 250 || step == total)
                {
                    lastStepPublished.Restart();
                    Publish(new TrainingUpdate(running.Current));
                }
            },
            NonFinite = (step, cause) =>
            {
                logger.LogWarning("Job {JobId}: step {Step} skipped: {Cause} (learning rate halved)", running.Current.JobId, step, cause);
                running.Current = running.Current with { NonFiniteSteps = running.Current.NonFiniteSteps + 1 };
                _latest[running.Current.JobId] = running.Current;
            },
            Validate = images.Validation.Count == 0 ? null : network =>
            {
                var queries = network.Embed(images.Validation, options.ImageSize);
                var reference = network.Embed(images.GalleryForValidation, options.ImageSize);
                return TrainingData.Validate(queries, images.Validation.Select(s => s.Label).ToList(), reference,
                    images.GalleryForValidation.Select(s => s.Label).ToList(), scorerOptions.Value);
            },
            Epoch = report =>
            {
                EpochLoss.Record(report.Loss);
                EpochImagesPerSecond.Record(report.ImagesPerSecond);
                if (report.ValidationGap is { } gap)
                {
                    ValidationGap.Record(gap);
                }
                var history = running.Current.History.Where(h => h.Epoch != report.Epoch).Append(report).OrderBy(h => h.Epoch).ToList();
                running.Current = running.Current with { History = history, Epoch = report.Epoch };
                running.Current = UpdateAsync(running.Current, report, null, CancellationToken.None).GetAwaiter().GetResult();
            },
            Checkpoint = cp =>
            {
                jobs.SaveCheckpointAsync(running.Current.JobId, cp, CancellationToken.None).GetAwaiter().GetResult();
                running.Current = running.Current with { CheckpointStep = cp.Step };
                running.Current = UpdateAsync(running.Current, null, null, CancellationToken.None).GetAwaiter().GetResult();
            },
        };
    }

    /// <summary>Export: the network to ONNX (then disposed), its content-derived version, its manifest and the training
    /// metrics.</summary>
    private async Task<(TrainingJobRecord Job, ExportedModel Model)> ExportAsync(TrainingJobRecord job, EmbeddingNetwork network, LoadedImages images,
        CancellationToken ct)
    {
        var options = job.Options;
        job = await UpdateAsync(job with { State = TrainingJobState.Exporting }, null, "exporting ONNX", ct);
        var last = job.History.LastOrDefault();
        var metrics = new Dictionary<string, double>
        {
            ["epochs"] = options.Epochs,
            ["classes"] = job.Classes.Count,
            ["train_images"] = images.Train.Count,
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
        var dimension = network.Dimension;
        network.Dispose();
        var version = "trained-" + Convert.ToHexStringLower(SHA256.HashData(onnx))[..12];
        var manifest = new ModelManifest
        {
            Version = version,
            Kind = ModelManifest.KindTrained,
            Description = (options.Backbone.IsPretrained
                    ? $"{options.Backbone.Pretrained} fine-tuned (stages < {options.Backbone.FrozenStages} frozen)"
                    : $"{options.Backbone.Family} {string.Join('/', options.Backbone.Widths)} from scratch") +
                (options.Neck == NeckKind.None ? $" + GeM ({dimension}-d, no neck)" : $" + GeM + {dimension}-d neck") + $", {options.Head}, {options.Epochs} epochs at {options.ImageSize}px on {job.Classes.Count} landmarks (job {job.JobId})",
            InputSize = options.ImageSize,
            Dimension = dimension,
            Metrics = metrics,
        };
        return (job, new ExportedModel(onnx, manifest, metrics));
    }

    /// <summary>Calibrate: on the held-out set (validation images + non-landmark queries against the training images and
    /// distractors), scored through ONNX Runtime, the new model's scorer settings are calibrated, and the new and the
    /// live model are measured for the publish gate.</summary>
    private async Task<(TrainingJobRecord Job, ExportedModel Model)> CalibrateAsync(TrainingJobRecord job, ExportedModel model, int threads,
        CancellationToken ct)
    {
        if (!HeldOutEvaluation.IsPossible(job))
        {
            return (job, model);
        }
        var metrics = model.Metrics;
        var manifest = model.Manifest;
        job = await UpdateAsync(job with { State = TrainingJobState.Evaluating }, null, "measuring the new and the live model on the held-out set", ct);
        var trained = await heldOut.EvaluateAsync(job, model.Onnx, manifest, scorerOptions.Value, job.Options.CalibrateScorer, threads, ct);
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
        HeldOutResult? live = null;
        if (await registry.GetLiveVersionAsync(ct) is { } liveVersion)
        {
            var (liveOnnx, liveManifest) = await registry.LoadAsync(liveVersion, ct);
            // Calibrated the same way as the new model (or not at all), so the gate compares like with like.
            live = await heldOut.EvaluateAsync(job, liveOnnx, liveManifest, scorerOptions.Value, job.Options.CalibrateScorer, threads, ct);
            if (live.Calibration is { } liveCalibration && liveCalibration.BestGap > live.Gap)
            {
                live = live with { Gap = liveCalibration.BestGap };
            }
            metrics["holdout_gap_live"] = live.Gap;
        }
        return (job, model with { Manifest = manifest, Trained = trained, Live = live });
    }

    /// <summary>Register: the model and its manifest (finite metrics only) in the registry.</summary>
    private async Task RegisterAsync(TrainingJobRecord job, ExportedModel model, CancellationToken ct)
    {
        var manifest = model.Manifest with { Metrics = model.Metrics.Where(kv => double.IsFinite(kv.Value)).ToDictionary() };
        await registry.RegisterAsync(model.Onnx, manifest, ct);
        logger.LogInformation("Job {JobId} produced model {Version} (val GAP {Gap})", job.JobId, model.Version, model.Metrics.GetValueOrDefault("val_gap", double.NaN));
    }

    /// <summary>Publish: the gate's decision (<see cref="PublishGate"/>), the roll-out when it says so, and the completed job.</summary>
    private async Task<TrainingJobRecord> PublishAsync(TrainingJobRecord job, ExportedModel model, CancellationToken ct)
    {
        var version = model.Version;
        var decision = PublishGate.Decide(job, model.Trained, model.Live);
        job = job with { ModelVersion = version, Metrics = model.Metrics, PublishOutcome = decision.Outcome, PublishDecision = decision.Reason };
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
