namespace Landmark.Storage;

/// <summary>
/// Object storage used for raw images, resized variants, models, checkpoints and catalog records.
/// Keys are '/'-separated, relative, never start with '/' and never contain '..' segments.
/// Implementations: <see cref="LocalDiskObjectStore"/> (embedded mode) and <see cref="S3ObjectStore"/> (MinIO / S3).
/// Writes are atomic: a reader sees either the old object or the complete new one, never a partial one.
/// </summary>
public interface IObjectStore
{
    /// <summary>Creates the bucket if it does not exist (idempotent).</summary>
    Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="content"/> (read to its end) under <paramref name="key"/>, replacing any previous object.</summary>
    /// <param name="length">Length in bytes, or -1 when unknown (the store buffers or uses multipart upload).</param>
    Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default);

    /// <summary>Opens the object for reading. Throws <see cref="ObjectNotFoundException"/> when it does not exist.</summary>
    Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default);

    /// <summary>Object information, or null when it does not exist. Metadata keys are lower-case.</summary>
    Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default);

    /// <summary>Deletes the object; deleting a missing object is not an error.</summary>
    Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default);

    /// <summary>All objects whose key starts with <paramref name="prefix"/>, recursively, in key order.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "", CancellationToken cancellationToken = default);
}

/// <param name="Metadata">User metadata, keys lower-case.</param>
public sealed record ObjectInfo(
    string Bucket,
    string Key,
    long Size,
    string? ContentType,
    DateTimeOffset LastModified,
    string? ETag,
    IReadOnlyDictionary<string, string> Metadata);

public sealed class ObjectNotFoundException(string bucket, string key)
    : Exception($"Object '{key}' does not exist in bucket '{bucket}'.")
{
    public string Bucket { get; } = bucket;
    public string Key { get; } = key;
}

/// <summary>Logical bucket names. The S3 store prefixes them with <c>StorageOptions.S3.BucketPrefix</c>.</summary>
public static class Buckets
{
    public const string Raw = "raw";
    public const string Variants = "variants";
    public const string Models = "models";
    public const string Checkpoints = "checkpoints";
    public const string Catalog = "catalog";

    public static IReadOnlyList<string> All { get; } = [Raw, Variants, Models, Checkpoints, Catalog];
}
