using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Landmark.Contracts.Messages;
using Landmark.Storage;

namespace Landmark.Ingest;

/// <summary>Pipeline state of an image, in the order an image moves through it.</summary>
public enum CatalogStatus
{
    Ingested = 1,
    Preprocessed = 2,
    Indexed = 4,
    Rejected = 5,
}

/// <summary>What the platform knows about one image. Stored as JSON at <c>catalog/images/&lt;id&gt;.json</c>.</summary>
public sealed record CatalogRecord
{
    public required string ImageId { get; init; }
    public required string FileName { get; init; }
    public required GalleryRole Role { get; init; }
    public string? LandmarkId { get; init; }
    public string? ExternalId { get; init; }
    public long SizeBytes { get; init; }
    public CatalogStatus Status { get; init; } = CatalogStatus.Ingested;
    public string? RejectionCode { get; init; }
    public string? RejectionReason { get; init; }
    public string? Format { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    /// <summary>The model the image was most recently indexed with.</summary>
    public string? ModelVersion { get; init; }

    /// <summary>Every model whose index holds the image (records from before roll-outs only have
    /// <see cref="ModelVersion"/>; <see cref="IsIndexedWith"/> reads both).</summary>
    public IReadOnlyList<string> IndexedVersions { get; init; } = [];

    public DateTimeOffset IngestedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public bool IsTerminal => Status is CatalogStatus.Indexed or CatalogStatus.Rejected;

    public bool IsIndexedWith(string modelVersion) =>
        Status == CatalogStatus.Indexed && (ModelVersion == modelVersion || IndexedVersions.Contains(modelVersion, StringComparer.Ordinal));

    /// <summary>This record indexed with <paramref name="modelVersion"/> too (the same instance when it already is).</summary>
    public CatalogRecord WithIndexed(string modelVersion)
    {
        if (IsIndexedWith(modelVersion) && IndexedVersions.Contains(modelVersion, StringComparer.Ordinal))
        {
            return this;
        }
        var versions = new List<string>(IndexedVersions.Count + 2);
        if (Status == CatalogStatus.Indexed && ModelVersion is { } previous && !IndexedVersions.Contains(previous, StringComparer.Ordinal))
        {
            versions.Add(previous);
        }
        versions.AddRange(IndexedVersions);
        if (!versions.Contains(modelVersion, StringComparer.Ordinal))
        {
            versions.Add(modelVersion);
        }
        return this with { Status = CatalogStatus.Indexed, ModelVersion = modelVersion, IndexedVersions = versions };
    }
}

/// <summary>
/// The image catalog, owned by the ingest service: one JSON object per image (<c>images/&lt;id&gt;.json</c>) and the
/// landmark names (<c>landmarks.json</c>) in the catalog bucket. Storage is the one truth for every replica: each
/// change is a read-modify-write with optimistic concurrency (<see cref="OptimisticUpdate"/>: conditional writes,
/// re-applied on a precondition failure), a new image is created only if absent (idempotence by content hash across
/// replicas), and listings, statistics and roll-outs read storage. The memory here is only a cache of records keyed by
/// their version tag, revalidated against each listing (a record whose ETag changed is read again), so it saves reads
/// without ever answering from a replica's own view. Status only moves forward (events may arrive out of order).
/// </summary>
public sealed class ImageCatalog(IObjectStore store, ILogger<ImageCatalog> logger)
{
    private const string ImagesPrefix = "images/";
    private const string RecordSuffix = ".json";
    private const string LandmarksKey = "landmarks.json";
    private const string JsonContentType = "application/json";
    private const int ReadParallelism = 16;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly IReadOnlyDictionary<string, string> NoLandmarks = new Dictionary<string, string>(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, Versioned<CatalogRecord>> _records = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Versioned<IReadOnlyDictionary<string, string>>? _landmarks;

    /// <summary>Completes when the catalog bucket exists and the cache is warm.</summary>
    public Task Loaded => _loaded.Task;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.EnsureBucketAsync(Buckets.Catalog, cancellationToken);
            var records = await ListAsync(cancellationToken);
            var landmarks = await GetLandmarksAsync(cancellationToken);
            logger.LogInformation("Catalog loaded: {Images} images, {Landmarks} landmarks", records.Count, landmarks.Count);
            _loaded.TrySetResult();
        }
        catch (Exception ex)
        {
            _loaded.TrySetException(ex);
            throw;
        }
    }

    /// <summary>Every image record as storage holds it now, in id order: one listing of the catalog, and a read of each
    /// record whose version differs from the cached one (all of them on a cold cache).</summary>
    public async Task<IReadOnlyList<CatalogRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var listed = new List<(string Id, string? ETag)>();
        await foreach (var info in store.ListAsync(Buckets.Catalog, ImagesPrefix, cancellationToken))
        {
            if (IdOf(info.Key) is { } id)
            {
                listed.Add((id, info.ETag));
            }
        }
        var records = new CatalogRecord?[listed.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, listed.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ReadParallelism, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var (id, etag) = listed[i];
                records[i] = etag is not null && _records.TryGetValue(id, out var cached) && cached.ETag == etag
                    ? cached.Value
                    : await GetFreshAsync(id, ct);
            });
        if (_records.Count > listed.Count)
        {
            var present = listed.Select(l => l.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var id in _records.Keys.Where(id => !present.Contains(id)))
            {
                _records.TryRemove(id, out _);
            }
        }
        return records.OfType<CatalogRecord>().ToList();
    }

    /// <summary>The record as storage holds it now, or null when the image is unknown.</summary>
    public async Task<CatalogRecord?> GetFreshAsync(string imageId, CancellationToken cancellationToken)
    {
        var current = await store.GetVersionedAsync(Buckets.Catalog, Key(imageId), cancellationToken);
        if (current is null)
        {
            _records.TryRemove(imageId, out _);
            return null;
        }
        CatalogRecord? record;
        try
        {
            record = JsonSerializer.Deserialize<CatalogRecord>(current.Content, Json);
        }
        catch (JsonException ex)
        {
            logger.LogError(ex, "Catalog record {Key} is unreadable; ignored", Key(imageId));
            return null;
        }
        if (record is not null)
        {
            _records[imageId] = new Versioned<CatalogRecord>(record, current.ETag);
        }
        return record;
    }

    /// <summary>A settled (indexed or rejected) record from the cache, any other from storage: for progress counts,
    /// where an image that reached a final state does not leave it.</summary>
    public Task<CatalogRecord?> GetSettledAsync(string imageId, CancellationToken cancellationToken) =>
        _records.TryGetValue(imageId, out var cached) && cached.Value.IsTerminal
            ? Task.FromResult<CatalogRecord?>(cached.Value)
            : GetFreshAsync(imageId, cancellationToken);

    /// <summary>Creates the record if no replica has (create-if-absent on the content-hash id); otherwise returns the
    /// stored one and changes nothing.</summary>
    public async Task<(CatalogRecord Record, bool Added)> AddAsync(CatalogRecord record, CancellationToken cancellationToken)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, Json);
        var written = await store.PutIfAsync(Buckets.Catalog, Key(record.ImageId), bytes, JsonContentType, WriteCondition.IfAbsent, cancellationToken);
        if (written.Written)
        {
            _records[record.ImageId] = new Versioned<CatalogRecord>(record, written.ETag!);
            return (record, true);
        }
        var existing = await store.GetVersionedAsync(Buckets.Catalog, Key(record.ImageId), cancellationToken)
            ?? throw new IOException($"Catalog record {Key(record.ImageId)} exists for a create-if-absent and is gone when read.");
        if (existing.Content.AsSpan().SequenceEqual(bytes))
        {
            // Our own write, whose answer was lost and whose retry found it (the bytes carry this upload's timestamps).
            _records[record.ImageId] = new Versioned<CatalogRecord>(record, existing.ETag);
            return (record, true);
        }
        var stored = JsonSerializer.Deserialize<CatalogRecord>(existing.Content, Json)
            ?? throw new InvalidDataException($"Catalog record {Key(record.ImageId)} is empty.");
        _records[record.ImageId] = new Versioned<CatalogRecord>(stored, existing.ETag);
        return (stored, false);
    }

    /// <summary>Applies <paramref name="update"/> to a known image as a read-modify-write of its stored record, re-applied
    /// when another replica changed it meanwhile (no-op for unknown ids, returns null). <paramref name="update"/> may run
    /// more than once and must only compute.</summary>
    public async Task<CatalogRecord?> UpdateAsync(string imageId, Func<CatalogRecord, CatalogRecord> update, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var result = await store.UpdateJsonAsync<CatalogRecord>(Buckets.Catalog, Key(imageId), current =>
        {
            if (current is null)
            {
                return null;
            }
            var next = update(current);
            return next == current ? null : next with { UpdatedAt = now };
        }, Json, cancellationToken);
        if (result is { Value: { } record, ETag: { } etag })
        {
            _records[imageId] = new Versioned<CatalogRecord>(record, etag);
        }
        return result.Value;
    }

    /// <summary>Landmark id → name as storage holds it now (re-read only when its version changed).</summary>
    public async Task<IReadOnlyDictionary<string, string>> GetLandmarksAsync(CancellationToken cancellationToken)
    {
        var cached = _landmarks;
        var info = await store.StatAsync(Buckets.Catalog, LandmarksKey, cancellationToken);
        if (info is null)
        {
            return NoLandmarks;
        }
        if (cached is not null && info.ETag is not null && cached.ETag == info.ETag)
        {
            return cached.Value;
        }
        if (await store.GetJsonAsync<Dictionary<string, string>>(Buckets.Catalog, LandmarksKey, Json, cancellationToken) is not { } read)
        {
            return NoLandmarks;
        }
        _landmarks = new Versioned<IReadOnlyDictionary<string, string>>(read.Value, read.ETag);
        return read.Value;
    }

    /// <summary>Sets landmark names (a read-modify-write of <c>landmarks.json</c>, so concurrent upserts through any
    /// replicas all land). Returns how many ids were new or renamed.</summary>
    public async Task<int> UpsertLandmarksAsync(IEnumerable<KeyValuePair<string, string>> landmarks, CancellationToken cancellationToken)
    {
        var wanted = landmarks.ToList();
        var changed = 0;
        var result = await store.UpdateJsonAsync<Dictionary<string, string>>(Buckets.Catalog, LandmarksKey, current =>
        {
            changed = 0;
            var next = new Dictionary<string, string>(current ?? [], StringComparer.Ordinal);
            foreach (var (id, name) in wanted)
            {
                if (!next.TryGetValue(id, out var old) || old != name)
                {
                    next[id] = name;
                    changed++;
                }
            }
            return changed > 0 ? next : null;
        }, Json, cancellationToken);
        if (result is { Value: { } map, ETag: { } etag })
        {
            _landmarks = new Versioned<IReadOnlyDictionary<string, string>>(map, etag);
        }
        return result.Written ? changed : 0;
    }

    private static string Key(string imageId) => ImagesPrefix + imageId + RecordSuffix;

    private static string? IdOf(string key) =>
        key.StartsWith(ImagesPrefix, StringComparison.Ordinal) && key.EndsWith(RecordSuffix, StringComparison.Ordinal) &&
        key.Length > ImagesPrefix.Length + RecordSuffix.Length
            ? key[ImagesPrefix.Length..^RecordSuffix.Length]
            : null;

    private sealed record Versioned<T>(T Value, string ETag);
}
