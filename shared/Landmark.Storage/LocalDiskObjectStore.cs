using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Landmark.Storage;

/// <summary>
/// Object storage on the local file system (embedded mode): <c>root/&lt;bucket&gt;/&lt;key&gt;</c>, content type and
/// user metadata in a sidecar under <c>root/.meta/&lt;bucket&gt;/&lt;key&gt;.json</c>. Every write goes to a temporary
/// file in the same directory, is flushed to disk, then renamed over the target, so readers never see a partial object
/// and a crash mid-write leaves the previous version.
/// </summary>
public sealed class LocalDiskObjectStore : IObjectStore
{
    private const string MetaDirectory = ".meta";
    private const string TempSuffix = ".tmp-";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly string _root;

    public LocalDiskObjectStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public LocalDiskObjectStore(IOptions<StorageOptions> options) : this(options.Value.Local.Root)
    {
    }

    public string Root => _root;

    public Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(BucketPath(bucket));
        return Task.CompletedTask;
    }

    public async Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var path = ObjectPath(bucket, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + TempSuffix + Guid.NewGuid().ToString("N");
        string etag;
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                var buffer = new byte[81920];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    md5.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                if (length >= 0 && file.Length != length)
                {
                    throw new InvalidDataException($"Expected {length} bytes for '{key}' but the stream had {file.Length}.");
                }
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
                etag = Convert.ToHexStringLower(md5.GetHashAndReset());
            }
            var sidecar = new Sidecar(contentType, etag,
                metadata?.ToDictionary(kv => kv.Key.ToLowerInvariant(), kv => kv.Value) ?? new Dictionary<string, string>());
            await WriteAtomicallyAsync(MetaPath(bucket, key), JsonSerializer.SerializeToUtf8Bytes(sidecar, Json), cancellationToken);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    public Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var path = ObjectPath(bucket, key);
        try
        {
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, FileOptions.Asynchronous);
            return Task.FromResult(stream);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ObjectNotFoundException(bucket, key);
        }
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var file = new FileInfo(ObjectPath(bucket, key));
        if (!file.Exists)
        {
            return null;
        }
        var sidecar = await ReadSidecarAsync(bucket, key, cancellationToken);
        return new ObjectInfo(bucket, key, file.Length, sidecar?.ContentType, file.LastWriteTimeUtc, sidecar?.ETag,
            sidecar?.Metadata ?? new Dictionary<string, string>());
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        File.Delete(ObjectPath(bucket, key));
        File.Delete(MetaPath(bucket, key));
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var bucketPath = BucketPath(bucket);
        if (!Directory.Exists(bucketPath))
        {
            yield break;
        }
        var keys = Directory.EnumerateFiles(bucketPath, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Contains(TempSuffix, StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(bucketPath, f).Replace('\\', '/'))
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await StatAsync(bucket, key, cancellationToken) is { } info)
            {
                yield return info;
            }
        }
    }

    private async Task<Sidecar?> ReadSidecarAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = new FileStream(MetaPath(bucket, key), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            return await JsonSerializer.DeserializeAsync<Sidecar>(stream, Json, cancellationToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    private static async Task WriteAtomicallyAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + TempSuffix + Guid.NewGuid().ToString("N");
        await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            await file.WriteAsync(bytes, cancellationToken);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    private string BucketPath(string bucket)
    {
        ValidateBucket(bucket);
        return Path.Combine(_root, bucket);
    }

    private string ObjectPath(string bucket, string key)
    {
        ObjectKeys.Validate(key);
        return Path.Combine(BucketPath(bucket), key);
    }

    private string MetaPath(string bucket, string key)
    {
        ObjectKeys.Validate(key);
        ValidateBucket(bucket);
        return Path.Combine(_root, MetaDirectory, bucket, key + ".json");
    }

    private static void ValidateBucket(string bucket)
    {
        if (string.IsNullOrEmpty(bucket) || bucket.StartsWith('.') || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new ArgumentException($"Invalid bucket name '{bucket}' (lower-case letters, digits and '-').", nameof(bucket));
        }
    }

    private sealed record Sidecar(string? ContentType, string? ETag, Dictionary<string, string> Metadata);
}

/// <summary>Rules every object key follows, whatever the store.</summary>
public static class ObjectKeys
{
    public const int MaxLength = 1024;

    public static void Validate(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > MaxLength)
        {
            throw new ArgumentException($"An object key must have 1 to {MaxLength} characters.", nameof(key));
        }
        if (key.StartsWith('/') || key.Contains('\\') || key.Any(char.IsControl))
        {
            throw new ArgumentException($"Invalid object key '{key}': relative, '/'-separated, no control characters.", nameof(key));
        }
        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                throw new ArgumentException($"Invalid object key '{key}': empty, '.' or '..' segment.", nameof(key));
            }
        }
    }
}
