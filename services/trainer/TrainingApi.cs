using System.Globalization;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Api;
using Landmark.Training;
using Microsoft.Extensions.Options;

namespace Landmark.Trainer;

/// <summary>The training API (<c>landmark.v1.TrainingService</c>).</summary>
public sealed partial class TrainingApi(TrainingJobRunner runner, IOptions<TrainingOptions> defaults) : TrainingService.TrainingServiceBase
{
    public override async Task StartTraining(StartTrainingRequest request, IServerStreamWriter<TrainingProgress> responseStream, ServerCallContext context)
    {
        var jobId = string.IsNullOrEmpty(request.JobId)
            ? string.Create(CultureInfo.InvariantCulture, $"job-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}")
            : request.JobId;
        if (!JobIdPattern().IsMatch(jobId))
        {
            throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "job_id", "job_id: letters, digits, '-' and '_' only (at most 64)");
        }
        var options = TrainingOptionsBinder.Bind(defaults.Value, request.Options);
        var (updates, subscription) = runner.Subscribe(jobId);
        using (subscription)
        {
            var job = await runner.SubmitAsync(new TrainingJobRecord { JobId = jobId, Options = options, Publish = request.Publish, ForcePublish = request.ForcePublish }, context.CancellationToken);
            await StreamAsync(job, updates, responseStream, context.CancellationToken);
        }
    }

    public override async Task WatchTraining(WatchTrainingRequest request, IServerStreamWriter<TrainingProgress> responseStream, ServerCallContext context)
    {
        var (updates, subscription) = runner.Subscribe(request.JobId);
        using (subscription)
        {
            var job = await runner.GetAsync(request.JobId, context.CancellationToken)
                ?? throw JobNotFound(request.JobId);
            await StreamAsync(job, updates, responseStream, context.CancellationToken);
        }
    }

    public override async Task<ListTrainingJobsResponse> ListTrainingJobs(ListTrainingJobsRequest request, ServerCallContext context)
    {
        var page = Paging.Paginate(await runner.ListAsync(context.CancellationToken), j => Paging.TimeKey(j.CreatedAt, j.JobId),
            request.PageSize, request.PageToken);
        var response = new ListTrainingJobsResponse { NextPageToken = page.NextPageToken };
        response.Jobs.AddRange(page.Items.Select(ToProto));
        return response;
    }

    public override async Task<TrainingJob> CancelTraining(CancelTrainingRequest request, ServerCallContext context)
    {
        var job = await runner.CancelAsync(request.JobId, context.CancellationToken)
            ?? throw JobNotFound(request.JobId);
        return ToProto(job);
    }

    private static RpcException JobNotFound(string jobId) =>
        ApiErrors.Create(StatusCode.NotFound, ErrorReasons.TrainingJobNotFound, $"no training job '{jobId}'",
            new Dictionary<string, string> { ["job_id"] = jobId });

    private static async Task StreamAsync(TrainingJobRecord job, System.Threading.Channels.ChannelReader<TrainingUpdate> updates,
        IServerStreamWriter<TrainingProgress> stream, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(new TrainingProgress { Job = ToProto(job), Message = job.State.ToString().ToLowerInvariant() }, cancellationToken);
        if (job.IsTerminal)
        {
            return;
        }
        await foreach (var update in updates.ReadAllAsync(cancellationToken))
        {
            var progress = new TrainingProgress { Job = ToProto(update.Job), Message = update.Message ?? "" };
            if (update.Epoch is { } e)
            {
                progress.EpochReport = ToProto(e);
            }
            await stream.WriteAsync(progress, cancellationToken);
            if (update.Job.IsTerminal)
            {
                return;
            }
        }
    }

    public static TrainingJob.Types.State ToProto(TrainingJobState state) => state switch
    {
        TrainingJobState.Queued => TrainingJob.Types.State.Queued,
        TrainingJobState.Loading => TrainingJob.Types.State.Loading,
        TrainingJobState.Training => TrainingJob.Types.State.Training,
        TrainingJobState.Exporting => TrainingJob.Types.State.Exporting,
        TrainingJobState.Evaluating => TrainingJob.Types.State.Evaluating,
        TrainingJobState.Completed => TrainingJob.Types.State.Completed,
        TrainingJobState.Failed => TrainingJob.Types.State.Failed,
        TrainingJobState.Cancelled => TrainingJob.Types.State.Cancelled,
        _ => TrainingJob.Types.State.Unspecified,
    };

    /// <summary>The API's outcome of the gate's (unspecified until the job completes).</summary>
    public static TrainingJob.Types.PublishOutcome ToProto(PublishOutcome? outcome) => outcome switch
    {
        PublishOutcome.NotRequested => TrainingJob.Types.PublishOutcome.NotRequested,
        PublishOutcome.Published => TrainingJob.Types.PublishOutcome.Published,
        PublishOutcome.PublishedNoLiveModel => TrainingJob.Types.PublishOutcome.PublishedNoLiveModel,
        PublishOutcome.PublishedWithoutGate => TrainingJob.Types.PublishOutcome.PublishedWithoutGate,
        PublishOutcome.PublishedForced => TrainingJob.Types.PublishOutcome.PublishedForced,
        PublishOutcome.GatedBelowLive => TrainingJob.Types.PublishOutcome.GatedBelowLive,
        _ => TrainingJob.Types.PublishOutcome.Unspecified,
    };

    public static TrainingJob ToProto(TrainingJobRecord job)
    {
        var proto = new TrainingJob
        {
            JobId = job.JobId,
            State = ToProto(job.State),
            Epoch = job.Epoch,
            Epochs = job.Options.Epochs,
            Step = job.Step,
            TotalSteps = job.TotalSteps,
            ModelVersion = job.ModelVersion ?? "",
            Error = job.Error ?? "",
            CreateTime = Timestamp.FromDateTimeOffset(job.CreatedAt),
            UpdateTime = Timestamp.FromDateTimeOffset(job.UpdatedAt),
            Resumes = job.Resumes,
            CheckpointStep = job.CheckpointStep,
            RunningLoss = job.RunningLoss,
            Classes = job.Classes.Count,
            TrainImages = job.Train.Count,
            ValidationImages = job.Validation.Count,
            PublishOutcome = ToProto(job.PublishOutcome),
            PublishDecision = job.PublishDecision ?? "",
            NonFiniteSteps = job.NonFiniteSteps,
        };
        foreach (var (name, value) in job.Metrics)
        {
            proto.Metrics[name] = value;
        }
        proto.History.AddRange(job.History.Select(ToProto));
        return proto;
    }

    public static TrainingEpoch ToProto(EpochReport e) => new()
    {
        Epoch = e.Epoch,
        Loss = e.Loss,
        Accuracy = e.Accuracy,
        ValidationGap = e.ValidationGap ?? -1,
        ValidationAccuracy = e.ValidationAccuracy ?? -1,
        ImagesPerSecond = e.ImagesPerSecond,
        LearningRate = e.LearningRate,
        ImageSize = e.ImageSize,
    };

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex JobIdPattern();
}

/// <summary>Applies <c>StartTraining</c>'s option overrides (configuration paths such as <c>Epochs</c> or
/// <c>Backbone:Widths:0</c>) to the configured defaults and validates the result.</summary>
public static class TrainingOptionsBinder
{
    public static TrainingOptions Bind(TrainingOptions defaults, IReadOnlyDictionary<string, string> overrides)
    {
        // A copy, so that binding the overrides never changes the configured defaults.
        var json = System.Text.Json.JsonSerializer.Serialize(defaults);
        var options = System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>(json)!;
        if (overrides.Count > 0)
        {
            var known = typeof(TrainingOptions).GetProperties().Select(p => p.Name).Concat(typeof(BackboneOptions).GetProperties().Select(p => "Backbone:" + p.Name)).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var key in overrides.Keys)
            {
                var root = Regex.Replace(key, ":[0-9]+$", "");
                if (!known.Contains(root))
                {
                    throw ApiErrors.InvalidField(ErrorReasons.TrainingOptionsInvalid, $"options[{key}]", $"unknown training option '{key}'");
                }
            }
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(overrides.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))).Build();
            try
            {
                configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
                ReplaceConfiguredArrays(options, configuration);
            }
            catch (InvalidOperationException ex)
            {
                throw ApiErrors.InvalidField(ErrorReasons.TrainingOptionsInvalid, "options", $"training options: {ex.Message}");
            }
        }
        var result = new TrainingOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw ApiErrors.Create(StatusCode.InvalidArgument, ErrorReasons.TrainingOptionsInvalid, "training options: " + string.Join("; ", result.Failures),
                violations: result.Failures.Select(f => ("options", f)));
        }
        return options;
    }

    /// <summary>Configuration binding adds configured array elements to the default array instead of replacing it
    /// (setting <c>Backbone:Widths:0</c> and <c>:1</c> would keep the default widths too); an array that the
    /// configuration names is taken as configured, whole.</summary>
    public static void ReplaceConfiguredArrays(TrainingOptions options, IConfiguration section)
    {
        static int[]? Configured(IConfiguration s) =>
            s.GetChildren().ToList() is { Count: > 0 } items
                ? items.OrderBy(i => int.TryParse(i.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue)
                    .Select(i => int.Parse(i.Value ?? "", NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray()
                : null;
        if (Configured(section.GetSection(nameof(TrainingOptions.ImageSizeStages))) is { } stages)
        {
            options.ImageSizeStages = stages;
        }
        if (Configured(section.GetSection("Backbone:Widths")) is { } widths)
        {
            options.Backbone.Widths = widths;
        }
        if (Configured(section.GetSection("Backbone:Depths")) is { } depths)
        {
            options.Backbone.Depths = depths;
        }
    }
}
