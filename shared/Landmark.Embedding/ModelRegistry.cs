using System.Text.Json;
using Landmark.Onnx;
using Landmark.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Landmark.Embedding;

/// <summary>
/// Model versions in object storage (bucket <see cref="Buckets.Models"/>): <c>&lt;version&gt;/model.onnx</c>,
/// <c>&lt;version&gt;/manifest.json</c>, and <c>live.json</c> naming the live version. Registering is idempotent
/// (versions are content-derived); the manifest is written after the model, so a listed version is complete.
/// <c>live-history.json</c> lists every version that was live, oldest first (what a rollback goes back to).
/// </summary>
public sealed class ModelRegistry(IObjectStore store, ILogger<ModelRegistry>? logger = null)
{
    private const string ModelFile = "model.onnx";
    private const string ManifestFile = "manifest.json";
    private const string LiveKey = "live.json";
    private const string HistoryKey = "live-history.json";
    private const int HistoryLimit = 100;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // A metric that came out NaN or infinite is written as such, never a failed registration.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>Key of a version's ONNX graph in the models bucket.</summary>
    public static string ModelKey(string version) => $"{version}/{ModelFile}";

    public async Task<ModelManifest> RegisterAsync(byte[] onnx, ModelManifest manifest, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(manifest.Version);
        await store.EnsureBucketAsync(Buckets.Models, cancellationToken);
        if (await GetAsync(manifest.Version, cancellationToken) is { } existing)
        {
            return existing;
        }
        await store.PutBytesAsync(Buckets.Models, $"{manifest.Version}/{ModelFile}", onnx, "application/octet-stream", cancellationToken: cancellationToken);
        await store.PutBytesAsync(Buckets.Models, $"{manifest.Version}/{ManifestFile}", JsonSerializer.SerializeToUtf8Bytes(manifest, Json),
            "application/json", cancellationToken: cancellationToken);
        _logger.LogInformation("Registered model {Version} ({Kind})", manifest.Version, manifest.Kind);
        return manifest;
    }

    public async Task<ModelManifest?> GetAsync(string version, CancellationToken cancellationToken = default)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Models, $"{version}/{ManifestFile}", cancellationToken);
        return bytes is null ? null : JsonSerializer.Deserialize<ModelManifest>(bytes, Json);
    }

    public async Task<IReadOnlyList<ModelManifest>> ListAsync(CancellationToken cancellationToken = default)
    {
        var manifests = new List<ModelManifest>();
        await foreach (var info in store.ListAsync(Buckets.Models, "", cancellationToken))
        {
            if (info.Key.EndsWith("/" + ManifestFile, StringComparison.Ordinal) &&
                await store.TryGetBytesAsync(Buckets.Models, info.Key, cancellationToken) is { } bytes &&
                JsonSerializer.Deserialize<ModelManifest>(bytes, Json) is { } manifest)
            {
                manifests.Add(manifest);
            }
        }
        return manifests.OrderBy(m => m.CreatedAt).ThenBy(m => m.Version, StringComparer.Ordinal).ToList();
    }

    public async Task<ModelManifest?> GetLiveAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Models, LiveKey, cancellationToken);
        if (bytes is null)
        {
            return null;
        }
        var live = JsonSerializer.Deserialize<LivePointer>(bytes, Json);
        return live is null ? null : await GetAsync(live.Version, cancellationToken);
    }

    public async Task SetLiveAsync(string version, CancellationToken cancellationToken = default)
    {
        if (await GetAsync(version, cancellationToken) is null)
        {
            throw new ArgumentException($"Model version '{version}' is not registered.", nameof(version));
        }
        var now = DateTimeOffset.UtcNow;
        // History first: a crash in between leaves the old live pointer with a history entry too many, which a
        // repeated SetLiveAsync (roll-outs retry) makes right; the reverse order could lose the entry.
        var history = (await GetLiveHistoryAsync(cancellationToken)).ToList();
        if (history.Count == 0 || history[^1].Version != version)
        {
            history.Add(new LiveHistoryEntry(version, now));
            if (history.Count > HistoryLimit)
            {
                history.RemoveRange(0, history.Count - HistoryLimit);
            }
            await store.PutBytesAsync(Buckets.Models, HistoryKey, JsonSerializer.SerializeToUtf8Bytes(history, Json),
                "application/json", cancellationToken: cancellationToken);
        }
        await store.PutBytesAsync(Buckets.Models, LiveKey, JsonSerializer.SerializeToUtf8Bytes(new LivePointer(version, now), Json),
            "application/json", cancellationToken: cancellationToken);
        _logger.LogInformation("Model {Version} is now live", version);
    }

    /// <summary>The live version without reading its manifest (null when none is live).</summary>
    public async Task<string?> GetLiveVersionAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Models, LiveKey, cancellationToken);
        return bytes is null ? null : JsonSerializer.Deserialize<LivePointer>(bytes, Json)?.Version;
    }

    /// <summary>Versions that were live, oldest first (consecutive repeats collapsed).</summary>
    public async Task<IReadOnlyList<LiveHistoryEntry>> GetLiveHistoryAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await store.TryGetBytesAsync(Buckets.Models, HistoryKey, cancellationToken);
        if (bytes is not null)
        {
            return JsonSerializer.Deserialize<List<LiveHistoryEntry>>(bytes, Json) ?? [];
        }
        // Registries from before the history: the live pointer is the whole history.
        var live = await store.TryGetBytesAsync(Buckets.Models, LiveKey, cancellationToken);
        return live is not null && JsonSerializer.Deserialize<LivePointer>(live, Json) is { } pointer
            ? [new LiveHistoryEntry(pointer.Version, pointer.Since)]
            : [];
    }

    /// <summary>The version a rollback returns to: the most recent version before the live one that is not the live
    /// one (null when there is none).</summary>
    public async Task<string?> GetPreviousLiveVersionAsync(CancellationToken cancellationToken = default)
    {
        var live = await GetLiveVersionAsync(cancellationToken);
        var history = await GetLiveHistoryAsync(cancellationToken);
        for (var i = history.Count - 1; i >= 0; i--)
        {
            if (history[i].Version != live)
            {
                return history[i].Version;
            }
        }
        return null;
    }

    public async Task<(byte[] Onnx, ModelManifest Manifest)> LoadAsync(string version, CancellationToken cancellationToken = default)
    {
        var manifest = await GetAsync(version, cancellationToken)
            ?? throw new ArgumentException($"Model version '{version}' is not registered.", nameof(version));
        var onnx = await store.GetBytesAsync(Buckets.Models, $"{version}/{ModelFile}", cancellationToken);
        return (onnx, manifest);
    }

    /// <summary>The live model; when none is live yet, registers the built-in baseline and makes it live. Safe to race:
    /// the baseline's bytes and version are deterministic.</summary>
    public Task<ModelManifest> EnsureBaselineLiveAsync(CancellationToken cancellationToken = default) =>
        EnsureDefaultLiveAsync(new EmbedderOptions { DefaultModel = DefaultModels.Baseline }, cancellationToken);

    /// <summary>The live model; when none is live yet, registers the configured default model
    /// (<see cref="EmbedderOptions.DefaultModel"/>) and makes it live. Safe to race: the default models' bytes and
    /// versions are deterministic.</summary>
    public async Task<ModelManifest> EnsureDefaultLiveAsync(EmbedderOptions options, CancellationToken cancellationToken = default)
    {
        if (await GetLiveAsync(cancellationToken) is { } live)
        {
            return live;
        }
        var artifact = DefaultModels.Build(options, _logger);
        var manifest = await RegisterAsync(artifact.OnnxBytes, artifact.Manifest, cancellationToken);
        await SetLiveAsync(manifest.Version, cancellationToken);
        return manifest;
    }

    private sealed record LivePointer(string Version, DateTimeOffset Since);
}

/// <summary>One entry of the registry's live history: <paramref name="Version"/> went live at <paramref name="Since"/>.</summary>
public sealed record LiveHistoryEntry(string Version, DateTimeOffset Since);
