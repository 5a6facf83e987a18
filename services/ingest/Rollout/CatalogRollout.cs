using System.Diagnostics;
using System.Text.Json;
using Landmark.Contracts.Messages;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>
/// The catalog's side of a model roll-out (see <see cref="RolloutTracker"/> for the rules): on <see cref="ModelPublished"/>
/// it asks the embedder to re-embed every indexed gallery image that the new model's index lacks
/// (<see cref="GalleryReembedRequested"/>), follows <see cref="ImageIndexed"/> events until none is pending, reports
/// progress (<see cref="GalleryReindexProgress"/>, throttled) and announces <see cref="GalleryReindexed"/>. The state
/// is persisted at <c>rollout.json</c> in the catalog bucket (the pending set is derived from the image records, which
/// list the models that indexed each image), so a restarted ingest resumes the roll-out. With several ingest replicas
/// every change of <c>rollout.json</c> is a read-modify-write of the stored snapshot (<see cref="OptimisticUpdate"/>,
/// the <see cref="RolloutSnapshot"/> transitions), and the images are enumerated from storage, not from what this
/// replica has seen.
/// </summary>
public sealed class CatalogRollout(IObjectStore store, ImageCatalog catalog, IOptions<IngestOptions> options, ILogger<CatalogRollout> logger)
{
    private const string StateKey = "rollout.json";
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly RolloutTracker _tracker = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastProgress;
    private long _lastAnnounced;

    public Task Loaded => _loaded.Task;

    /// <summary>Reads the persisted roll-out (after the catalog is loaded) and returns the images still to re-embed.</summary>
    public async Task<IReadOnlyList<CatalogRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await catalog.Loaded.WaitAsync(cancellationToken);
            var bytes = await store.TryGetBytesAsync(Buckets.Catalog, StateKey, cancellationToken);
            var snapshot = bytes is null ? RolloutSnapshot.Empty : JsonSerializer.Deserialize<RolloutSnapshot>(bytes, Json) ?? RolloutSnapshot.Empty;
            var pending = _tracker.Restore(snapshot, await catalog.ListAsync(cancellationToken));
            if (snapshot.Target is not null)
            {
                logger.LogInformation("Roll-out of {Version} resumed: {Pending} of {Total} images to re-embed, complete: {Completed}",
                    snapshot.Target, pending.Count, _tracker.Total, snapshot.Completed);
            }
            _loaded.TrySetResult();
            return pending;
        }
        catch (Exception ex)
        {
            _loaded.TrySetException(ex);
            throw;
        }
    }

    /// <summary>Starts the roll-out of <paramref name="version"/> (a repeat of the same one resumes it).</summary>
    public async Task BeginAsync(string version, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var (reembed, completed) = _tracker.Begin(version, await catalog.ListAsync(cancellationToken), now);
        await SaveAsync(s => completed ? s.Started(version, now).CompletedFor(version) : s.Started(version, now), cancellationToken);
        logger.LogInformation("Roll-out of {Version}: re-embedding {Count} of {Total} gallery images", version, reembed.Count, _tracker.Total);
        await PublishReembedAsync(reembed, version, publisher, cancellationToken);
        await publisher.Publish(new GalleryReindexProgress(version, _tracker.Total, _tracker.Done), cancellationToken);
        if (completed)
        {
            await AnnounceAsync(publisher, cancellationToken);
        }
    }

    /// <summary>Another replica (or this one, via the shared queue) started the roll-out of <paramref name="version"/>.</summary>
    public async Task FollowAsync(string version, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        if (_tracker.Follow(version, DateTimeOffset.UtcNow))
        {
            logger.LogInformation("Following the roll-out of {Version}: images indexed here with another model are re-embedded for it", version);
        }
    }

    /// <summary>Follows an <see cref="ImageIndexed"/> (after the record was updated).</summary>
    public async Task OnIndexedAsync(CatalogRecord record, string version, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        var decision = _tracker.OnIndexed(record, version);
        if (decision.ReembedWith is { } target)
        {
            await PublishReembedAsync([record], target, publisher, cancellationToken);
        }
        await AfterChangeAsync(decision.Completed, publisher, cancellationToken);
    }

    public async Task OnSkippedAsync(GalleryReembedFailed failed, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        await AfterChangeAsync(_tracker.OnSkipped(failed.ImageId, failed.ModelVersion), publisher, cancellationToken);
    }

    public async Task OnActivatedAsync(ModelActivated activated, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        if (_tracker.Activate(activated.ModelVersion, activated.ActivatedAt))
        {
            await SaveAsync(s => s.Activated(activated.ModelVersion, activated.ActivatedAt), cancellationToken);
            logger.LogInformation("Model {Version} is live; the catalog re-embeds images indexed with any other model", activated.ModelVersion);
        }
    }

    /// <summary>For several ingest replicas, each seeing part of the events: recounts the roll-out from the records in
    /// storage (revalidated listing), asks for the re-embedding of images indexed elsewhere with another model, and
    /// completes the roll-out when storage says every image is done; re-announces a completed roll-out that was not
    /// activated yet (the trainer ignores repeats).</summary>
    public async Task ReconcileAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await Loaded.WaitAsync(cancellationToken);
        var state = _tracker.State;
        if (state.Target is null || !_tracker.IsOwner)
        {
            return;
        }
        if (state.Completed)
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastAnnounced)) >= TimeSpan.FromSeconds(options.Value.RolloutReconcileSeconds))
            {
                await AnnounceAsync(publisher, cancellationToken);
            }
            return;
        }
        var (newlyPending, completed) = _tracker.Reconcile(await catalog.ListAsync(cancellationToken));
        if (newlyPending.Count > 0)
        {
            logger.LogInformation("Roll-out of {Version}: {Count} images indexed through another replica join the re-embedding",
                state.Target, newlyPending.Count);
            await PublishReembedAsync(newlyPending, state.Target, publisher, cancellationToken);
        }
        await AfterChangeAsync(completed, publisher, cancellationToken);
    }

    /// <summary>Re-publishes the requests of images still pending (start-up; the embedder is idempotent).</summary>
    public async Task ResumeAsync(IReadOnlyList<CatalogRecord> pending, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var state = _tracker.State;
        if (state.Target is not { } target)
        {
            return;
        }
        if (state.Completed)
        {
            await AnnounceAsync(publisher, cancellationToken);
            return;
        }
        await PublishReembedAsync(pending, target, publisher, cancellationToken);
        if (_tracker.Pending.Count == 0)
        {
            await AfterChangeAsync(true, publisher, cancellationToken);
        }
    }

    private async Task AfterChangeAsync(bool completed, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (_tracker.State is not { Target: { } target })
        {
            return;
        }
        if (completed)
        {
            await SaveAsync(s => s.CompletedFor(target), cancellationToken);
            await publisher.Publish(new GalleryReindexProgress(target, _tracker.Total, _tracker.Done), cancellationToken);
            await AnnounceAsync(publisher, cancellationToken);
            return;
        }
        var last = Interlocked.Read(ref _lastProgress);
        if (Stopwatch.GetElapsedTime(last) >= ProgressInterval && Interlocked.CompareExchange(ref _lastProgress, Stopwatch.GetTimestamp(), last) == last)
        {
            await publisher.Publish(new GalleryReindexProgress(target, _tracker.Total, _tracker.Done), cancellationToken);
        }
    }

    private async Task AnnounceAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (_tracker.State is not { Target: { } target, Completed: true })
        {
            return;
        }
        Interlocked.Exchange(ref _lastAnnounced, Stopwatch.GetTimestamp());
        var skipped = _tracker.Skipped;
        logger.LogInformation("Roll-out of {Version}: every gallery image is indexed ({Images} images, {Skipped} skipped)",
            target, _tracker.Total - skipped, skipped);
        await publisher.Publish(new GalleryReindexed(target, _tracker.Total - skipped, skipped), cancellationToken);
    }

    private static async Task PublishReembedAsync(IReadOnlyList<CatalogRecord> records, string version, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        foreach (var chunk in records.Chunk(256))
        {
            await publisher.PublishBatch(chunk.Select(r => new GalleryReembedRequested(r.ImageId, r.Role, r.LandmarkId, r.FileName, r.ExternalId, version)),
                cancellationToken);
        }
    }

    /// <summary>Applies <paramref name="transition"/> to the stored snapshot (not to this replica's copy), so changes made
    /// through other replicas stay.</summary>
    private Task SaveAsync(Func<RolloutSnapshot, RolloutSnapshot> transition, CancellationToken cancellationToken) =>
        store.UpdateJsonAsync<RolloutSnapshot>(Buckets.Catalog, StateKey, current =>
        {
            var stored = current ?? RolloutSnapshot.Empty;
            var next = transition(stored);
            return next == stored ? null : next;
        }, Json, cancellationToken);
}
