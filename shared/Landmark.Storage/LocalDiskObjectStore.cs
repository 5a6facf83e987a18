using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

namespace Landmark.Storage;

/// <summary>
/// Object storage on the local file system (embedded mode). An object is the file <c>root/&lt;bucket&gt;/&lt;key&gt;</c>;
/// its content type, ETag (MD5 of the bytes, as S3 gives for single-part uploads) and user metadata are JSON in the
/// file's extended attribute <c>user.landmark.meta</c> when the file system has them (<see cref="ExtendedAttributes"/>:
/// one file, one flush and one rename per write), otherwise in a sidecar at the same relative path under
/// <c>root/.meta/</c> (a tree that mirrors the data tree, so sidecars never appear in listings and never collide with
/// keys). Reads take the attribute first, then the sidecar, so a directory written either way reads the same.
/// <para>
/// Every write goes to a temporary file in the target's directory, is flushed to disk, then renamed over the target
/// (<see cref="File.Move(string, string, bool)"/>, an atomic rename), so readers see the old or the new object, never a
/// partial one, and a crash mid-write leaves the previous version. Concurrent writers of one key stream their bytes in
/// parallel; the final "sidecar + bytes" renames are serialised per key inside the process, so the last writer wins
/// with its own metadata. Readers open with <see cref="FileShare.Delete"/>: a concurrent replace does not disturb an
/// open stream, which keeps reading the version it opened.
/// </para>
/// <para>
/// Conditional writes (<see cref="PutIfAsync"/>): the version of an object is the MD5 of its bytes (as S3's ETag of a
/// single-part upload), computed from the bytes themselves when read (<see cref="GetVersionedAsync"/>), never from the
/// sidecar. The compare and the rename happen under an exclusive lock file (one of <see cref="LockFiles"/> per bucket
/// under <c>root/.locks/</c>, chosen by the key's hash; <see cref="FileShare.None"/> is an <c>flock</c> on Linux), so
/// they are atomic against every other writer of the key: other threads, other store instances on the same root, and
/// other processes sharing the directory (a volume whose file system honours <c>flock</c>). Unconditional puts and
/// deletes take the same lock for their renames.
/// </para>
/// <para>
/// File-system limit: a key cannot also be a "directory" of another key (<c>a</c> and <c>a/b</c>); such a put fails
/// with an <see cref="IOException"/> that says so.
/// </para>
/// </summary>
public sealed partial class LocalDiskObjectStore : IObjectStore
{
    /// <summary>Directory under the root that holds the metadata sidecars (bucket names never start with '.').</summary>
    public const string MetaDirectory = ".meta";

    private const string TempExtension = ".landmark-tmp";
    private const int BufferSize = 81920;
    private const int LockStripes = 64;

    /// <summary>Lock files per bucket (cross-process locks for the final renames).</summary>
    public const int LockFiles = 64;

    /// <summary>Directory under the root that holds the lock files.</summary>
    public const string LockDirectory = ".locks";

    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly EnumerationOptions Recursive = new()
    {
        RecurseSubdirectories = true,
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        ReturnSpecialDirectories = false,
    };

    private readonly SemaphoreSlim[] _locks = Enumerable.Range(0, LockStripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private readonly ILogger _logger;

    /// <summary>A store rooted at <paramref name="root"/> (created when missing; relative to the working directory).
    /// With <paramref name="extendedAttributes"/> (and a file system that has them) metadata goes into each file's
    /// extended attribute, otherwise into sidecar files.</summary>
    public LocalDiskObjectStore(string root, ILogger<LocalDiskObjectStore>? logger = null, bool extendedAttributes = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        MetadataInExtendedAttributes = extendedAttributes && ExtendedAttributes.Probe(Root);
        _logger.LogDebug("Object metadata under {Root} in {Where}", Root, MetadataInExtendedAttributes ? "extended attributes" : "sidecar files");
    }

    /// <summary>A store rooted at <see cref="LocalStorageOptions.Root"/>.</summary>
    public LocalDiskObjectStore(IOptions<StorageOptions> options) : this(options.Value.Local.Root, null, options.Value.Local.ExtendedAttributes)
    {
    }

    /// <summary>A store rooted at <see cref="LocalStorageOptions.Root"/>, logging to <paramref name="logger"/>.</summary>
    public LocalDiskObjectStore(IOptions<StorageOptions> options, ILogger<LocalDiskObjectStore> logger)
        : this(options.Value.Local.Root, logger, options.Value.Local.ExtendedAttributes)
    {
    }

    /// <summary>Absolute root directory.</summary>
    public string Root { get; }

    /// <summary>True when new objects keep their metadata in an extended attribute rather than a sidecar file.</summary>
    public bool MetadataInExtendedAttributes { get; }

    public Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(BucketPath(bucket));
        return Task.CompletedTask;
    }

    /// <summary>True when the bucket's directory exists.</summary>
    public Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken = default) =>
        Task.FromResult(Directory.Exists(BucketPath(bucket)));

    public async Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, -1);
        var path = ObjectPath(bucket, key);
        var metaPath = MetaPath(bucket, key);
        var userMetadata = ObjectMetadata.Normalize(metadata);
        string? temp = TempPathFor(path);
        try
        {
            string etag;
            byte[] sidecar;
            bool inAttribute;
            await using (var file = CreateTemp(temp, key, BufferSize))
            {
                using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    md5.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                if (length >= 0 && file.Length != length)
                {
                    throw new InvalidDataException($"Expected {length} bytes for '{bucket}/{key}' but the stream had {file.Length}.");
                }
                await file.FlushAsync(cancellationToken);
                etag = Convert.ToHexStringLower(md5.GetHashAndReset());
                sidecar = JsonSerializer.SerializeToUtf8Bytes(
                    new Sidecar(string.IsNullOrEmpty(contentType) ? null : contentType, etag, userMetadata), Json);
                inAttribute = MetadataInExtendedAttributes && ExtendedAttributes.TrySet(file.SafeFileHandle, ExtendedAttributes.MetadataName, sidecar);
                file.Flush(flushToDisk: true);
            }

            await using (await LockAsync(bucket, path, cancellationToken))
            {
                if (!inAttribute)
                {
                    await WriteAtomicallyAsync(metaPath, sidecar, key, cancellationToken);
                }
                Replace(temp, path, key);
                temp = null;
                if (inAttribute)
                {
                    DeleteFile(metaPath); // a sidecar an earlier write left (reads prefer the attribute anyway)
                }
            }
        }
        finally
        {
            TryDelete(temp);
        }
    }

    public async Task<ConditionalPutResult> PutIfAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType,
        WriteCondition condition, CancellationToken cancellationToken = default)
    {
        var path = ObjectPath(bucket, key);
        var metaPath = MetaPath(bucket, key);
        var etag = Convert.ToHexStringLower(MD5.HashData(content.Span));
        var sidecar = JsonSerializer.SerializeToUtf8Bytes(
            new Sidecar(string.IsNullOrEmpty(contentType) ? null : contentType, etag, new Dictionary<string, string>()), Json);
        await using (await LockAsync(bucket, path, cancellationToken))
        {
            var current = await ReadVersionedAsync(path, cancellationToken);
            if (condition.ETag is null ? current is not null : current?.ETag != condition.ETag)
            {
                return ConditionalPutResult.PreconditionFailed;
            }
            if (MetadataInExtendedAttributes && await WriteAtomicallyAsync(path, content, key, cancellationToken, sidecar))
            {
                DeleteFile(metaPath); // a sidecar an earlier write left (reads prefer the attribute anyway)
            }
            else
            {
                await WriteAtomicallyAsync(metaPath, sidecar, key, cancellationToken);
                await WriteAtomicallyAsync(path, content, key, cancellationToken);
            }
        }
        return new ConditionalPutResult(ConditionalPutOutcome.Written, etag);
    }

    public Task<VersionedObject?> GetVersionedAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        ReadVersionedAsync(ObjectPath(bucket, key), cancellationToken);

    public Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var path = ObjectPath(bucket, key);
        if (Directory.Exists(path))
        {
            throw new ObjectNotFoundException(bucket, key);
        }
        try
        {
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, FileOptions.Asynchronous);
            return Task.FromResult(stream);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            throw new ObjectNotFoundException(bucket, key);
        }
    }

    /// <summary>The object's file in one array of exactly its length (see <see cref="TryReadFile"/>).</summary>
    public Task<byte[]?> TryGetBytesAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(TryReadFile(ObjectPath(bucket, key)));
    }

    /// <summary>One open and one read of the file's length into an array of exactly that size, on the calling thread (a
    /// file from the page cache reads faster than a hand-off to the thread pool); null when there is no such file (found
    /// by a stat, not an exception; a directory is no file: keys "a" and "a/b" may both exist). Objects are replaced by
    /// rename, never rewritten in place, so the open file keeps its length.</summary>
    private static byte[]? TryReadFile(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            return null; // deleted since the stat
        }
        using (handle)
        {
            var length = RandomAccess.GetLength(handle);
            if (length > Array.MaxLength)
            {
                throw new IOException($"{path} has {length} bytes, more than one array holds; read it with {nameof(OpenReadAsync)}.");
            }
            var bytes = GC.AllocateUninitializedArray<byte>((int)length);
            var offset = 0;
            while (offset < bytes.Length)
            {
                var read = RandomAccess.Read(handle, bytes.AsSpan(offset), offset);
                if (read == 0)
                {
                    throw new IOException($"{path} ended after {offset} of its {length} bytes.");
                }
                offset += read;
            }
            return bytes;
        }
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var path = ObjectPath(bucket, key);
        var metaPath = MetaPath(bucket, key);
        // The lock makes the pair (bytes, sidecar) consistent against a writer of this process.
        var gate = LockFor(path);
        await gate.WaitAsync(cancellationToken);
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists)
            {
                return null;
            }
            var sidecar = ReadAttribute(path) ?? await ReadSidecarAsync(metaPath, cancellationToken);
            return new ObjectInfo(bucket, key, file.Length, sidecar?.ContentType, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero),
                sidecar?.ETag, sidecar?.Metadata ?? new Dictionary<string, string>());
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var path = ObjectPath(bucket, key);
        var metaPath = MetaPath(bucket, key);
        await using (await LockAsync(bucket, path, cancellationToken))
        {
            DeleteFile(path);
            DeleteFile(metaPath);
        }
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectKeys.ValidatePrefix(prefix);
        var bucketPath = BucketPath(bucket);
        // Start at the deepest directory the prefix names: listing "images/2024/" does not walk the whole bucket.
        var lastSlash = prefix.LastIndexOf('/');
        var start = lastSlash < 0 ? bucketPath : Path.Combine(bucketPath, prefix[..lastSlash]);
        if (!Directory.Exists(start))
        {
            yield break;
        }
        List<string> keys;
        try
        {
            keys = Directory.EnumerateFiles(start, "*", Recursive)
                .Where(f => !IsTempFile(f))
                .Select(f => Path.GetRelativePath(bucketPath, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
                .Order(ObjectKeys.Order)
                .ToList();
        }
        catch (DirectoryNotFoundException)
        {
            // The directory was removed while we walked it.
            yield break;
        }
        foreach (var key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // A key deleted since the walk is skipped.
            if (await StatAsync(bucket, key, cancellationToken) is { } info)
            {
                yield return info;
            }
        }
    }

    /// <summary>The metadata in the file's extended attribute, or null (none there, or not JSON: then the sidecar is read).</summary>
    private static Sidecar? ReadAttribute(string path)
    {
        // Read whatever the write mode: a directory written with attributes stays readable with them switched off.
        if (ExtendedAttributes.Get(path, ExtendedAttributes.MetadataName) is not { } bytes)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<Sidecar>(bytes, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task<Sidecar?> ReadSidecarAsync(string metaPath, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = new FileStream(metaPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 4096, FileOptions.Asynchronous);
            return await JsonSerializer.DeserializeAsync<Sidecar>(stream, Json, cancellationToken);
        }
        catch (Exception ex) when (IsNotFound(ex) || ex is JsonException)
        {
            // Written before the sidecar existed, or by hand: the bytes are still the object.
            return null;
        }
    }

    /// <summary>The file's bytes with their MD5, or null when there is no such file.</summary>
    private static Task<VersionedObject?> ReadVersionedAsync(string path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var bytes = TryReadFile(path);
        return Task.FromResult(bytes is null ? null : new VersionedObject(bytes, Convert.ToHexStringLower(MD5.HashData(bytes))));
    }

    /// <summary>Holds the in-process stripe of <paramref name="path"/> and its lock file (exclusive, polled until
    /// <see cref="LockTimeout"/>).</summary>
    private async Task<IAsyncDisposable> LockAsync(string bucket, string path, CancellationToken cancellationToken)
    {
        var gate = LockFor(path);
        await gate.WaitAsync(cancellationToken);
        try
        {
            var stripe = (uint)StringComparer.Ordinal.GetHashCode(path) % LockFiles;
            var directory = Path.Combine(Root, LockDirectory, bucket);
            var lockPath = Path.Combine(directory, stripe.ToString("D2", System.Globalization.CultureInfo.InvariantCulture) + ".lock");
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var delay = 1;
            var created = false;
            while (true)
            {
                try
                {
                    var file = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                    return new HeldLock(file, gate);
                }
                catch (IOException ex) when (!created && IsNotFound(ex))
                {
                    // The bucket's first lock: its directory is made once, not tried before every lock. (A lock file is
                    // opened or created, so "not found" means its directory.)
                    Directory.CreateDirectory(directory);
                    created = true;
                }
                catch (IOException ex) when (!IsNotFound(ex))
                {
                    if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > LockTimeout)
                    {
                        throw new IOException($"The lock file {lockPath} stayed held by another writer for {LockTimeout.TotalSeconds:F0} s.", ex);
                    }
                    await Task.Delay(Random.Shared.Next(delay, delay * 2 + 1), cancellationToken);
                    delay = Math.Min(delay * 2, 20);
                }
            }
        }
        catch
        {
            gate.Release();
            throw;
        }
    }

    private sealed class HeldLock(FileStream file, SemaphoreSlim gate) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await file.DisposeAsync();
            gate.Release();
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to a temporary file, flushes it to disk and renames it over
    /// <paramref name="path"/>. With <paramref name="metadata"/>, the metadata goes into the file's extended attribute
    /// first; when the file system refuses it, nothing is written and the result is false (the caller writes a sidecar).</summary>
    private static async Task<bool> WriteAtomicallyAsync(string path, ReadOnlyMemory<byte> bytes, string key, CancellationToken cancellationToken,
        byte[]? metadata = null)
    {
        string? temp = TempPathFor(path);
        try
        {
            await using (var file = CreateTemp(temp, key, 4096))
            {
                if (metadata is not null && !ExtendedAttributes.TrySet(file.SafeFileHandle, ExtendedAttributes.MetadataName, metadata))
                {
                    return false;
                }
                await file.WriteAsync(bytes, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }
            Replace(temp, path, key);
            temp = null;
            return true;
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>Creates the temporary file <paramref name="temp"/>, and its directory only when that is missing (most
    /// writes go to a directory that exists: no <c>mkdir</c> is tried for them).</summary>
    private static FileStream CreateTemp(string temp, string key, int bufferSize)
    {
        try
        {
            return Create();
        }
        catch (IOException ex) when (IsNotFound(ex))
        {
            // A new file cannot be missing itself: its directory is.
            CreateDirectory(Path.GetDirectoryName(temp)!, key);
            return Create();
        }

        FileStream Create() => new(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize, FileOptions.Asynchronous);
    }

    /// <summary>A path that does not exist, whichever of the two exceptions .NET chose: it tells them apart by looking at
    /// the directory after the failed call, so a concurrent writer that made the directory meanwhile turns a missing
    /// directory into "file not found".</summary>
    private static bool IsNotFound(Exception ex) => ex is FileNotFoundException or DirectoryNotFoundException;

    private static void CreateDirectory(string directory, string key)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (IOException ex)
        {
            throw new IOException($"Key '{key}' needs a directory where another key is a file (a local-disk store cannot hold both 'a' and 'a/b').", ex);
        }
    }

    private static void Replace(string temp, string path, string key)
    {
        try
        {
            File.Move(temp, path, overwrite: true);
        }
        catch (IOException ex) when (Directory.Exists(path))
        {
            throw new IOException($"Key '{key}' is a directory of other keys (a local-disk store cannot hold both 'a' and 'a/b').", ex);
        }
    }

    private void DeleteFile(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
        catch (DirectoryNotFoundException)
        {
            // Already gone.
        }
        catch (IOException ex)
        {
            _logger.LogWarning(ex, "Could not delete {Path}", path);
            throw;
        }
    }

    private static void TryDelete(string? path)
    {
        if (path is null)
        {
            return;
        }
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A temporary file: listings ignore it anyway.
        }
    }

    private static string TempPathFor(string path) => path + "." + Guid.NewGuid().ToString("N") + TempExtension;

    private static bool IsTempFile(string path) => TempFileName().IsMatch(Path.GetFileName(path));

    [GeneratedRegex(@"\.[0-9a-f]{32}\.landmark-tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TempFileName();

    private SemaphoreSlim LockFor(string path) =>
        _locks[(int)((uint)StringComparer.Ordinal.GetHashCode(path) % LockStripes)];

    private string BucketPath(string bucket)
    {
        BucketNames.Validate(bucket);
        return Path.Combine(Root, bucket);
    }

    private string ObjectPath(string bucket, string key)
    {
        ObjectKeys.Validate(key);
        if (IsTempFile(key))
        {
            throw new ArgumentException($"Invalid object key '{key}': the '{TempExtension}' ending is reserved for temporary files.", nameof(key));
        }
        return Path.Combine(BucketPath(bucket), key.Replace('/', Path.DirectorySeparatorChar));
    }

    private string MetaPath(string bucket, string key)
    {
        BucketNames.Validate(bucket);
        return Path.Combine(Root, MetaDirectory, bucket, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private sealed record Sidecar(string? ContentType, string? ETag, Dictionary<string, string> Metadata);
}
