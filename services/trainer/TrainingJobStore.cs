using System.Text.Json;
using System.Text.Json.Serialization;
using Landmark.Storage;
using Landmark.Training;

namespace Landmark.Trainer;

/// <summary>Where a training job is.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingJobState>))]
public enum TrainingJobState
{
    Queued,
    Loading,
    Training,
    Exporting,
    Evaluating,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>One labelled image of a job's data split.</summary>
public sealed record TrainingImage(string ImageId, int Label);

/// <summary>A training job as stored at <c>jobs/&lt;id&gt;/job.json</c> in the checkpoints bucket: the options it runs
/// with, its class map and data split (fixed at the first start, so a resumed job trains on the same data), progress,
/// per-epoch history and the model it produced.</summary>
public sealed record TrainingJobRecord
{
    public required string JobId { get; init; }
    public TrainingJobState State { get; init; } = TrainingJobState.Queued;
    public required TrainingOptions Options { get; init; }
    public bool Publish { get; init; }
    /// <summary>Publish even when the model scores below the live one on the held-out set.</summary>
    public bool ForcePublish { get; init; }
    /// <summary>What the publish gate decided (null until the job completes, and in records written before outcomes were kept).</summary>
    public PublishOutcome? PublishOutcome { get; init; }
    /// <summary>Why, for people.</summary>
    public string? PublishDecision { get; init; }
    /// <summary>Null: the trainer service runs (and resumes) the job; <c>job:&lt;id&gt;</c>: a <c>trainer train</c>
    /// process (Kubernetes Job) owns it.</summary>
    public string? Owner { get; init; }
    public const string OwnerPrefix = "job:";
    /// <summary>Landmark id of each class label.</summary>
    public List<string> Classes { get; init; } = [];
    public List<TrainingImage> Train { get; init; } = [];
    public List<TrainingImage> Validation { get; init; } = [];
    /// <summary>Non-landmark gallery images (ids) for the scorer calibration.</summary>
    public List<string> NonLandmarks { get; init; } = [];
    public int Epoch { get; init; }
    public long Step { get; init; }
    public long TotalSteps { get; init; }
    public long CheckpointStep { get; init; }
    public double RunningLoss { get; init; }
    /// <summary>Steps skipped because their loss or gradient was not finite.</summary>
    public int NonFiniteSteps { get; init; }
    public int Resumes { get; init; }
    public string? ModelVersion { get; init; }
    public string? Error { get; init; }
    public Dictionary<string, double> Metrics { get; init; } = [];
    public List<EpochReport> History { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; init; } = DateTimeOffset.UtcNow;

    [JsonIgnore]
    public bool IsTerminal => State is TrainingJobState.Completed or TrainingJobState.Failed or TrainingJobState.Cancelled;
}

/// <summary>
/// Training jobs and their checkpoints in object storage (bucket <see cref="Buckets.Checkpoints"/>). Each write is one
/// whole-object PUT, which S3 (and the local-disk store, by rename) makes visible atomically: a reader sees the previous
/// checkpoint or the new one, never a torn one. The checkpoint carries its own step, so a crash between writing it and
/// the job record loses nothing.
/// </summary>
public sealed class TrainingJobStore(IObjectStore store)
{
    private const string JobsPrefix = "jobs/";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string JobKey(string jobId) => $"{JobsPrefix}{jobId}/job.json";

    public static string CheckpointKey(string jobId) => $"{JobsPrefix}{jobId}/checkpoint.bin";

    public Task EnsureBucketAsync(CancellationToken cancellationToken) => store.EnsureBucketAsync(Buckets.Checkpoints, cancellationToken);

    public async Task SaveAsync(TrainingJobRecord job, CancellationToken cancellationToken)
    {
        await store.PutBytesAsync(Buckets.Checkpoints, JobKey(job.JobId), JsonSerializer.SerializeToUtf8Bytes(job, Json), "application/json",
            cancellationToken: cancellationToken);
    }

    public async Task<TrainingJobRecord?> GetAsync(string jobId, CancellationToken cancellationToken)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Checkpoints, JobKey(jobId), cancellationToken);
        return bytes is null ? null : JsonSerializer.Deserialize<TrainingJobRecord>(bytes, Json);
    }

    public async Task<IReadOnlyList<TrainingJobRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var jobs = new List<TrainingJobRecord>();
        await foreach (var info in store.ListAsync(Buckets.Checkpoints, JobsPrefix, cancellationToken))
        {
            if (info.Key.EndsWith("/job.json", StringComparison.Ordinal) &&
                await store.TryGetBytesAsync(Buckets.Checkpoints, info.Key, cancellationToken) is { } bytes)
            {
                try
                {
                    if (JsonSerializer.Deserialize<TrainingJobRecord>(bytes, Json) is { } job)
                    {
                        jobs.Add(job);
                    }
                }
                catch (JsonException)
                {
                    // A record of another format version: not ours to run.
                }
            }
        }
        return jobs.OrderBy(j => j.CreatedAt).ToList();
    }

    public Task SaveCheckpointAsync(string jobId, TrainingCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        var header = new Dictionary<string, string>
        {
            ["step"] = checkpoint.Step.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["epoch"] = checkpoint.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return store.PutBytesAsync(Buckets.Checkpoints, CheckpointKey(jobId), checkpoint.State, "application/octet-stream", header, cancellationToken);
    }

    public async Task<TrainingCheckpoint?> GetCheckpointAsync(string jobId, CancellationToken cancellationToken)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Checkpoints, CheckpointKey(jobId), cancellationToken);
        return bytes is null || bytes.Length < 16 ? null : MetricLearningTrainer.ReadCheckpoint(bytes);
    }
}
