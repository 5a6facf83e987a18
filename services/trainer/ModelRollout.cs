using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Trainer;

/// <summary>The model is not in the registry.</summary>
public sealed class ModelNotRegisteredException(string version) : Exception($"Model version '{version}' is not registered.")
{
    public string Version { get; } = version;
}

/// <summary>
/// Model roll-out and rollback, driven by the trainer. <see cref="PublishAsync"/> records the roll-out
/// (<c>rollouts/current.json</c> in the models bucket) and publishes <see cref="ModelPublished"/>: the catalog has the
/// gallery re-embedded with the new model into its own collection while recognition keeps answering with the live one.
/// When the catalog reports <see cref="GalleryReindexed"/>, the registry's live pointer moves and
/// <see cref="ModelActivated"/> makes every embedder switch its query model and retrieval switch the live alias.
/// A rollback is a roll-out of the previously live model (so its index also gets the images added since). Publishing
/// while another roll-out runs supersedes it; publishing the live model then cancels it. Idempotent: repeated or
/// stale events never move the live model to anything but the current roll-out's target.
/// </summary>
public sealed class ModelRollout(ModelRegistry registry, IObjectStore store, IBus bus, ILogger<ModelRollout> logger) : IModelRollout
{
    // The states as stored in rollouts/current.json (the API's are RolloutStatus.Types.State).
    private const string StatePending = "pending";
    private const string StateReindexing = "reindexing";
    private const string StateLive = "live";
    private const string StateFailed = "failed";

    private const string CurrentKey = "rollouts/current.json";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task<RolloutStatus> PublishAsync(string version, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(version))
        {
            throw new ArgumentException("Name the model version to publish.", nameof(version));
        }
        var manifest = await registry.GetAsync(version, cancellationToken) ?? throw new ModelNotRegisteredException(version);
        await EnsureServableAsync(version, cancellationToken);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var live = await registry.GetLiveVersionAsync(cancellationToken);
            var current = await ReadAsync(cancellationToken);
            var inProgress = current is { State: StatePending or StateReindexing };
            if (version == live && !inProgress)
            {
                logger.LogInformation("Model {Version} is already live; nothing to roll out", version);
                return ToStatus(current, live);
            }
            if (!(inProgress && current!.Version == version))
            {
                if (inProgress)
                {
                    logger.LogInformation("Roll-out of {Superseded} superseded by {Version}", current!.Version, version);
                }
                current = new RolloutRecord(version, live, StatePending, 0, 0, 0, DateTimeOffset.UtcNow, null);
                await WriteAsync(current, cancellationToken);
            }
            // A repeat of the roll-out in progress publishes again: the catalog resumes it (idempotent).
            await bus.Publish(new ModelPublished(version, ModelRegistry.ModelKey(version), manifest.InputSize, manifest.Dimension, current.StartedAt),
                cancellationToken);
            logger.LogInformation("Rolling out model {Version} (live: {Live})", version, live);
            return ToStatus(current, live);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Rolls back to <paramref name="version"/>, or (empty) to the model live before the current one; while a
    /// roll-out is in progress, an empty version cancels it (rolls out the live model).</summary>
    public async Task<RolloutStatus> RollbackAsync(string? version, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(version))
        {
            var current = await ReadAsync(cancellationToken);
            version = current is { State: StatePending or StateReindexing }
                ? await registry.GetLiveVersionAsync(cancellationToken)
                : await registry.GetPreviousLiveVersionAsync(cancellationToken);
            if (version is null)
            {
                throw new InvalidOperationException("There is no previously live model to roll back to.");
            }
        }
        logger.LogInformation("Rolling back to model {Version}", version);
        return await PublishAsync(version, cancellationToken);
    }

    public async Task<RolloutStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var live = await registry.GetLiveVersionAsync(cancellationToken);
        return ToStatus(await ReadAsync(cancellationToken), live);
    }

    /// <summary>At start-up: a roll-out in progress is published again (its events may have been lost with an embedded
    /// platform's in-memory bus; the catalog resumes idempotently), and the last activation is announced again so that
    /// every consumer agrees on the live model.</summary>
    public async Task ResumeAsync(CancellationToken cancellationToken)
    {
        var current = await ReadAsync(cancellationToken);
        switch (current)
        {
            case { State: StatePending or StateReindexing }:
                logger.LogInformation("Resuming the roll-out of {Version}", current.Version);
                await PublishAsync(current.Version, cancellationToken);
                break;
            case { State: StateLive, FinishedAt: { } activatedAt } when await registry.GetLiveVersionAsync(cancellationToken) == current.Version &&
                                                                        await registry.GetAsync(current.Version, cancellationToken) is { } manifest:
                await bus.Publish(new ModelActivated(current.Version, current.PreviousVersion, manifest.Dimension, activatedAt), cancellationToken);
                break;
        }
    }

    /// <summary>Progress reported by the catalog for the roll-out in progress (other versions' reports are ignored).</summary>
    public async Task OnProgressAsync(GalleryReindexProgress progress, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var current = await ReadAsync(cancellationToken);
            if (current is not { State: StatePending or StateReindexing } || current.Version != progress.ModelVersion)
            {
                return;
            }
            var next = current with { State = StateReindexing, Total = progress.Total, Done = Math.Min(progress.Done, progress.Total) };
            if (next != current)
            {
                await WriteAsync(next, cancellationToken);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The gallery is indexed with the model: it goes live (when it is still the roll-out's target).</summary>
    public async Task OnReindexedAsync(GalleryReindexed reindexed, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var current = await ReadAsync(cancellationToken);
            if (current is null || current.Version != reindexed.ModelVersion)
            {
                logger.LogInformation("Ignoring the re-index of {Version}: the current roll-out is {Current}", reindexed.ModelVersion, current?.Version ?? "none");
                return;
            }
            var manifest = await registry.GetAsync(current.Version, cancellationToken) ?? throw new ModelNotRegisteredException(current.Version);
            if (current.State == StateFailed)
            {
                return;
            }
            if (current.State != StateLive && reindexed.Images == 0 && reindexed.Skipped > 0)
            {
                // Not one gallery image could be embedded with the model: going live would empty recognition.
                logger.LogError("Roll-out of {Version} failed: none of the {Skipped} gallery images could be embedded with it; {Live} stays live",
                    current.Version, reindexed.Skipped, current.PreviousVersion);
                await WriteAsync(current with
                {
                    State = StateFailed,
                    Total = reindexed.Skipped,
                    Done = reindexed.Skipped,
                    Skipped = reindexed.Skipped,
                    FinishedAt = DateTimeOffset.UtcNow,
                }, cancellationToken);
                return;
            }
            if (current.State != StateLive)
            {
                await registry.SetLiveAsync(current.Version, cancellationToken);
                var total = reindexed.Images + reindexed.Skipped;
                current = current with
                {
                    State = StateLive,
                    Total = total,
                    Done = total,
                    Skipped = reindexed.Skipped,
                    FinishedAt = DateTimeOffset.UtcNow,
                };
                await WriteAsync(current, cancellationToken);
                logger.LogInformation("Model {Version} is live ({Images} gallery images re-indexed, {Skipped} skipped; previously {Previous})",
                    current.Version, reindexed.Images, reindexed.Skipped, current.PreviousVersion);
            }
            // Published again on a repeat: the state may have been written by an attempt whose publish failed.
            await publisher.Publish(new ModelActivated(current.Version, current.PreviousVersion, manifest.Dimension, current.FinishedAt!.Value),
                cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Refuses a model the embedders could not load (not ONNX, or not an [N,3,S,S] → [N,D] graph matching its
    /// manifest) before anything is re-embedded.</summary>
    private async Task EnsureServableAsync(string version, CancellationToken cancellationToken)
    {
        var (onnx, manifest) = await registry.LoadAsync(version, cancellationToken);
        try
        {
            using var probe = new OnnxEmbeddingModel(onnx, manifest, new EmbedderOptions { IntraOpThreads = 1 });
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidOperationException($"Model {version} cannot be served: {ex.Message}", ex);
        }
    }

    private async Task<RolloutRecord?> ReadAsync(CancellationToken cancellationToken)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Models, CurrentKey, cancellationToken);
        return bytes is null ? null : JsonSerializer.Deserialize<RolloutRecord>(bytes, Json);
    }

    private Task WriteAsync(RolloutRecord record, CancellationToken cancellationToken) =>
        store.PutBytesAsync(Buckets.Models, CurrentKey, JsonSerializer.SerializeToUtf8Bytes(record, Json), "application/json",
            cancellationToken: cancellationToken);

    private static RolloutStatus ToStatus(RolloutRecord? record, string? live) => record is null
        ? new RolloutStatus { State = RolloutStatus.Types.State.None, LiveVersion = live ?? "", Version = live ?? "" }
        : new RolloutStatus
        {
            Version = record.Version,
            LiveVersion = live ?? "",
            PreviousVersion = record.PreviousVersion ?? "",
            State = ToProto(record.State),
            ImagesTotal = record.Total,
            ImagesDone = record.Done,
            ImagesSkipped = record.Skipped,
            StartTime = Timestamp.FromDateTimeOffset(record.StartedAt),
            EndTime = record.FinishedAt is { } finished ? Timestamp.FromDateTimeOffset(finished) : null,
        };

    /// <summary>The API's state of a stored state (the text kept in <c>rollouts/current.json</c>).</summary>
    private static RolloutStatus.Types.State ToProto(string state) => state switch
    {
        StatePending => RolloutStatus.Types.State.Pending,
        StateReindexing => RolloutStatus.Types.State.Reindexing,
        StateLive => RolloutStatus.Types.State.Live,
        StateFailed => RolloutStatus.Types.State.Failed,
        _ => RolloutStatus.Types.State.Unspecified,
    };

    /// <summary>The roll-out as stored at <c>rollouts/current.json</c>.</summary>
    private sealed record RolloutRecord(string Version, string? PreviousVersion, string State, long Total, long Done, long Skipped,
        DateTimeOffset StartedAt, DateTimeOffset? FinishedAt);
}
