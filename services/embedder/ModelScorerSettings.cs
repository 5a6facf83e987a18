using System.Collections.Concurrent;
using Landmark.Embedding;

namespace Landmark.Embedder;

/// <summary>The scorer settings each model's manifest carries, cached by version (a version's manifest never changes).</summary>
public sealed class ModelScorerSettings(ModelRegistry registry)
{
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, double>> _byVersion = new(StringComparer.Ordinal);

    public async ValueTask<IReadOnlyDictionary<string, double>> GetAsync(string version, CancellationToken cancellationToken)
    {
        if (_byVersion.TryGetValue(version, out var cached))
        {
            return cached;
        }
        var manifest = await registry.GetAsync(version, cancellationToken);
        IReadOnlyDictionary<string, double> settings = manifest?.ScorerSettings ?? [];
        return manifest is null ? settings : _byVersion.GetOrAdd(version, settings);
    }
}
