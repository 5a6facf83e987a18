using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// The configured keys, held as SHA-256 digests with their scopes, rebuilt when <see cref="AuthOptions"/> change.
/// <see cref="Find"/> compares the digest of the presented key with every digest in constant time (no early exit, and
/// digests have one length whatever the keys' lengths), so timing tells nothing about the keys.
/// </summary>
public sealed class ApiKeyRing : IDisposable
{
    private readonly IDisposable? _subscription;
    private readonly string? _generatedInternalKey;
    private volatile Snapshot _snapshot;

    public ApiKeyRing(IOptionsMonitor<AuthOptions> options)
    {
        var initial = options.CurrentValue;
        if (initial.GenerateInternalKey && initial.ConfiguredInternalKey() is null)
        {
            _generatedInternalKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        }
        _snapshot = Build(initial);
        _subscription = options.OnChange(o => _snapshot = Build(o));
    }

    /// <summary>The key the platform's own gRPC clients send (an internal key), or null when there is none.</summary>
    public string? InternalKey => _snapshot.InternalKey;

    /// <summary>The scopes of the presented key, or null when it matches no configured key.</summary>
    public IReadOnlySet<string>? Find(string presented)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        IReadOnlySet<string>? found = null;
        foreach (var entry in _snapshot.Entries)
        {
            if (CryptographicOperations.FixedTimeEquals(digest, entry.Digest))
            {
                found = entry.Scopes;
            }
        }
        return found;
    }

    public void Dispose() => _subscription?.Dispose();

    private Snapshot Build(AuthOptions options)
    {
        var scopesByKey = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (key, scopes, _) in options.AllKeys())
        {
            if (string.IsNullOrEmpty(key))
            {
                continue;
            }
            if (!scopesByKey.TryGetValue(key, out var set))
            {
                scopesByKey[key] = set = new HashSet<string>(StringComparer.Ordinal);
            }
            set.UnionWith(scopes);
        }
        var internalKey = options.ConfiguredInternalKey() ?? _generatedInternalKey;
        if (_generatedInternalKey is not null && internalKey == _generatedInternalKey)
        {
            scopesByKey[_generatedInternalKey] = new HashSet<string>(ApiScopes.All, StringComparer.Ordinal);
        }
        var entries = scopesByKey
            .Select(kv => new Entry(SHA256.HashData(Encoding.UTF8.GetBytes(kv.Key)), kv.Value))
            .ToArray();
        return new Snapshot(entries, internalKey);
    }

    private sealed record Entry(byte[] Digest, IReadOnlySet<string> Scopes);

    private sealed record Snapshot(Entry[] Entries, string? InternalKey);
}
