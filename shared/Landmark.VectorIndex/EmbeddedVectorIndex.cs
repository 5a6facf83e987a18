using System.Numerics.Tensors;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>
/// The default, in-process index: exact cosine search over contiguous vectors with SIMD dot products
/// (<see cref="TensorPrimitives"/>), persisted under <see cref="EmbeddedIndexOptions.Path"/>. Each collection is a
/// directory with a snapshot and a write-ahead log of CRC-checked records, flushed to disk before an upsert or delete
/// returns; on open the snapshot is loaded and the log replayed, ignoring a torn last record, so nothing acknowledged
/// is lost in a crash. The log is folded into a new snapshot (written atomically) when it outgrows it.
/// Aliases live in <c>aliases.json</c>, replaced atomically. Exact search is fast enough for galleries up to a few
/// hundred thousand images per core; use Qdrant beyond that.
/// </summary>
public sealed class EmbeddedVectorIndex : IVectorIndex, IDisposable
{
    private const string AliasesFile = "aliases.json";
    private readonly string _root;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly Dictionary<string, VectorCollection> _collections = new(StringComparer.Ordinal);
    private Dictionary<string, string> _aliases;

    public EmbeddedVectorIndex(string root, ILogger<EmbeddedVectorIndex>? logger = null)
    {
        _root = Path.GetFullPath(root);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Directory.CreateDirectory(_root);
        var aliasesPath = Path.Combine(_root, AliasesFile);
        _aliases = File.Exists(aliasesPath)
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(aliasesPath)) ?? new(StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(_root))
        {
            var name = Path.GetFileName(dir);
            if (VectorCollection.Exists(dir))
            {
                _collections[name] = VectorCollection.Open(dir, name, _logger);
            }
        }
    }

    public EmbeddedVectorIndex(IOptions<VectorIndexOptions> options, ILogger<EmbeddedVectorIndex> logger)
        : this(options.Value.Embedded.Path, logger)
    {
    }

    public Task EnsureCollectionAsync(string collection, int dimension, CancellationToken cancellationToken = default)
    {
        ValidateName(collection);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        lock (_gate)
        {
            if (_collections.TryGetValue(collection, out var existing))
            {
                if (existing.Dimension != dimension)
                {
                    throw new ArgumentException($"Collection '{collection}' holds {existing.Dimension}-d vectors, not {dimension}-d.", nameof(dimension));
                }
                return Task.CompletedTask;
            }
            _collections[collection] = VectorCollection.Create(Path.Combine(_root, collection), collection, dimension, _logger);
        }
        return Task.CompletedTask;
    }

    public Task<bool> CollectionExistsAsync(string collection, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_collections.ContainsKey(Resolve(collection)));
        }
    }

    public Task DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_collections.Remove(collection, out var removed))
            {
                removed.Dispose();
                Directory.Delete(Path.Combine(_root, collection), recursive: true);
            }
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<string>>(_collections.Keys.Order(StringComparer.Ordinal).ToList());
        }
    }

    public Task UpsertAsync(string collection, IReadOnlyList<VectorPoint> points, CancellationToken cancellationToken = default)
    {
        Get(collection).Upsert(points);
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string collection, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        Get(collection).Delete(ids);
        return Task.CompletedTask;
    }

    public Task<VectorPoint?> GetAsync(string collection, string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(Get(collection).Get(id));

    public Task<IReadOnlyList<IReadOnlyList<SearchHit>>> SearchAsync(string collection, IReadOnlyList<float[]> queries, int limit,
        PayloadFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return Task.FromResult(Get(collection).Search(queries, limit, filter));
    }

    public Task<long> CountAsync(string collection, PayloadFilter? filter = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(Get(collection).Count(filter));

    public Task SetAliasAsync(string alias, string collection, CancellationToken cancellationToken = default)
    {
        ValidateName(alias);
        lock (_gate)
        {
            if (!_collections.ContainsKey(collection))
            {
                throw new ArgumentException($"Collection '{collection}' does not exist.", nameof(collection));
            }
            var next = new Dictionary<string, string>(_aliases, StringComparer.Ordinal) { [alias] = collection };
            var path = Path.Combine(_root, AliasesFile);
            var temp = path + ".tmp";
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                JsonSerializer.Serialize(file, next);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            _aliases = next;
        }
        return Task.CompletedTask;
    }

    public Task<string?> ResolveAliasAsync(string alias, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_aliases.GetValueOrDefault(alias));
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var c in _collections.Values)
            {
                c.Dispose();
            }
            _collections.Clear();
        }
    }

    private VectorCollection Get(string collectionOrAlias)
    {
        lock (_gate)
        {
            var name = Resolve(collectionOrAlias);
            return _collections.TryGetValue(name, out var c)
                ? c
                : throw new ArgumentException($"Collection '{collectionOrAlias}' does not exist.", nameof(collectionOrAlias));
        }
    }

    private string Resolve(string name) => _collections.ContainsKey(name) ? name : _aliases.GetValueOrDefault(name, name);

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 255 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"Invalid collection or alias name '{name}' (letters, digits, '-', '_').", nameof(name));
        }
    }
}
