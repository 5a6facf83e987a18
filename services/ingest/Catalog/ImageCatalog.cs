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
/// The image catalog, owned by the ingest service: one JSON object per image in the catalog bucket, cached in
/// memory (loaded at start-up) and written through. Status only moves forward (events may arrive out of order).
/// </summary>
public sealed class ImageCatalog(IObjectStore store, ILogger<ImageCatalog> logger)
{
    private const string ImagesPrefix = "images/";
    private const string LandmarksKey = "landmarks.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly ConcurrentDictionary<string, CatalogRecord> _records = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim[] _locks = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private readonly SemaphoreSlim _landmarkLock = new(1, 1);
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Dictionary<string, string> _landmarks = new(StringComparer.Ordinal);

    public int Count => _records.Count;

    /// <summary>Completes when the catalog has been read from storage.</summary>
    public Task Loaded => _loaded.Task;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.EnsureBucketAsync(Buckets.Catalog, cancellationToken);
            var keys = new List<string>();
            await foreach (var info in store.ListAsync(Buckets.Catalog, ImagesPrefix, cancellationToken))
            {
                keys.Add(info.Key);
            }
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (key, ct) =>
                {
                    var bytes = await store.TryGetBytesAsync(Buckets.Catalog, key, ct);
                    if (bytes is null)
                    {
                        return;
                    }
                    try
                    {
                        var record = JsonSerializer.Deserialize<CatalogRecord>(bytes, Json);
                        if (record is not null)
                        {
                            _records[record.ImageId] = record;
                        }
                    }
                    catch (JsonException ex)
                    {
                        logger.LogError(ex, "Catalog record {Key} is unreadable; ignored", key);
                    }
                });
            var landmarks = await store.TryGetBytesAsync(Buckets.Catalog, LandmarksKey, cancellationToken);
            if (landmarks is not null)
            {
                _landmarks = JsonSerializer.Deserialize<Dictionary<string, string>>(landmarks, Json) ?? _landmarks;
            }
            logger.LogInformation("Catalog loaded: {Images} images, {Landmarks} landmarks", _records.Count, _landmarks.Count);
            _loaded.TrySetResult();
        }
        catch (Exception ex)
        {
            _loaded.TrySetException(ex);
            throw;
        }
    }

    public CatalogRecord? Get(string imageId) => _records.GetValueOrDefault(imageId);

    /// <summary>The current record. Terminal records come from memory; others are re-read from storage, since with
    /// several ingest replicas another one may have moved the image on (catalog updates are applied by one replica).</summary>
    public async Task<CatalogRecord?> GetFreshAsync(string imageId, CancellationToken cancellationToken)
    {
        if (_records.TryGetValue(imageId, out var cached) && cached.IsTerminal)
        {
            return cached;
        }
        var bytes = await store.TryGetBytesAsync(Buckets.Catalog, ImagesPrefix + imageId + ".json", cancellationToken);
        if (bytes is null)
        {
            return cached;
        }
        var record = JsonSerializer.Deserialize<CatalogRecord>(bytes, Json);
        if (record is not null)
        {
            _records[imageId] = record;
        }
        return record;
    }

    /// <summary>Re-reads one record from storage (another replica may have changed it), whatever its status.</summary>
    public async Task<CatalogRecord?> ReloadAsync(string imageId, CancellationToken cancellationToken)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Catalog, ImagesPrefix + imageId + ".json", cancellationToken);
        if (bytes is null || JsonSerializer.Deserialize<CatalogRecord>(bytes, Json) is not { } record)
        {
            return Get(imageId);
        }
        _records[imageId] = record;
        return record;
    }

    public IEnumerable<CatalogRecord> All => _records.Values;

    /// <summary>Adds a new record; returns the existing one (and changes nothing) when the image is known.</summary>
    public async Task<(CatalogRecord Record, bool Added)> AddAsync(CatalogRecord record, CancellationToken cancellationToken)
    {
        var gate = Gate(record.ImageId);
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (await GetFreshAsync(record.ImageId, cancellationToken) is { } existing)
            {
                return (existing, false);
            }
            await SaveAsync(record, cancellationToken);
            return (record, true);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Applies <paramref name="update"/> to a known image (no-op for unknown ids, returns null).</summary>
    public async Task<CatalogRecord?> UpdateAsync(string imageId, Func<CatalogRecord, CatalogRecord> update, CancellationToken cancellationToken)
    {
        var gate = Gate(imageId);
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (await GetFreshAsync(imageId, cancellationToken) is not { } current)
            {
                return null;
            }
            var next = update(current);
            if (next == current)
            {
                return current;
            }
            next = next with { UpdatedAt = DateTimeOffset.UtcNow };
            await SaveAsync(next, cancellationToken);
            return next;
        }
        finally
        {
            gate.Release();
        }
    }

    public IReadOnlyDictionary<string, string> Landmarks => _landmarks;

    public async Task<int> UpsertLandmarksAsync(IEnumerable<KeyValuePair<string, string>> landmarks, CancellationToken cancellationToken)
    {
        await _landmarkLock.WaitAsync(cancellationToken);
        try
        {
            var next = new Dictionary<string, string>(_landmarks, StringComparer.Ordinal);
            var changed = 0;
            foreach (var (id, name) in landmarks)
            {
                if (!next.TryGetValue(id, out var old) || old != name)
                {
                    next[id] = name;
                    changed++;
                }
            }
            if (changed > 0)
            {
                await store.PutBytesAsync(Buckets.Catalog, LandmarksKey, JsonSerializer.SerializeToUtf8Bytes(next, Json),
                    "application/json", cancellationToken: cancellationToken);
                _landmarks = next;
            }
            return changed;
        }
        finally
        {
            _landmarkLock.Release();
        }
    }

    private async Task SaveAsync(CatalogRecord record, CancellationToken cancellationToken)
    {
        await store.PutBytesAsync(Buckets.Catalog, ImagesPrefix + record.ImageId + ".json",
            JsonSerializer.SerializeToUtf8Bytes(record, Json), "application/json", cancellationToken: cancellationToken);
        _records[record.ImageId] = record;
    }

    private SemaphoreSlim Gate(string id) => _locks[(int)((uint)StringComparer.Ordinal.GetHashCode(id) % (uint)_locks.Length)];
}
