namespace Landmark.Storage;

/// <summary>
/// Object storage used for raw images, resized variants, models, checkpoints and catalog records.
/// Keys are '/'-separated, relative, never start with '/' and never contain '..' segments.
/// Implementations: <see cref="LocalDiskObjectStore"/> (embedded mode) and <see cref="S3ObjectStore"/> (MinIO / S3).
/// Writes are atomic: a reader sees either the old object or the complete new one, never a partial one.
/// <para>
/// Shared records (several replicas read-modify-write them) use the conditional pair: <see cref="GetVersionedAsync"/>
/// returns the bytes with their version tag (the ETag, from the same read), and <see cref="PutIfAsync"/> writes only if
/// the object still has that version (<see cref="WriteCondition.IfMatch"/>) or does not exist yet
/// (<see cref="WriteCondition.IfAbsent"/>); otherwise it changes nothing and answers
/// <see cref="ConditionalPutOutcome.PreconditionFailed"/>. Of concurrent conditional writers of one version exactly one
/// wins. <see cref="OptimisticUpdate"/> builds the read-modify-write loop on top.
/// </para>
/// </summary>
public interface IObjectStore
{
    /// <summary>Creates the bucket if it does not exist (idempotent).</summary>
    Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="content"/> (read to its end) under <paramref name="key"/>, replacing any previous object.</summary>
    /// <param name="length">Length in bytes, or -1 when unknown (the store buffers or uses multipart upload).</param>
    Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="content"/> under <paramref name="key"/> only when <paramref name="condition"/> holds
    /// at the moment of the write; otherwise nothing changes and the result is
    /// <see cref="ConditionalPutOutcome.PreconditionFailed"/>. The version tag of a written object is the ETag a later
    /// <see cref="GetVersionedAsync"/> returns (the MD5 of the bytes on both stores), so equal contents have equal tags.</summary>
    Task<ConditionalPutResult> PutIfAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType,
        WriteCondition condition, CancellationToken cancellationToken = default);

    /// <summary>The object's bytes and the version tag of exactly those bytes (read together), or null when it does not
    /// exist. Meant for small records (the bytes are held in memory).</summary>
    Task<VersionedObject?> GetVersionedAsync(string bucket, string key, CancellationToken cancellationToken = default);

    /// <summary>Opens the object for reading. Throws <see cref="ObjectNotFoundException"/> when it does not exist.</summary>
    Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default);

    /// <summary>The whole object in one array of exactly its length, or null when it does not exist (no exception on that
    /// path: a missing object is an ordinary answer, e.g. for an idempotence check). By default read from
    /// <see cref="OpenReadAsync"/>; a store that can do better (one read of a known length) overrides it.</summary>
    Task<byte[]?> TryGetBytesAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        ObjectStoreExtensions.TryReadAllBytesViaStreamAsync(this, bucket, key, cancellationToken);

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

/// <summary>An object's bytes with the version tag (ETag, without quotes) of those bytes.</summary>
public sealed record VersionedObject(byte[] Content, string ETag);

/// <summary>When <see cref="IObjectStore.PutIfAsync"/> may write.</summary>
public readonly record struct WriteCondition
{
    private WriteCondition(string? etag) => ETag = etag;

    /// <summary>The version the object must still have; null means "the object must not exist".</summary>
    public string? ETag { get; }

    /// <summary>Create only: the object must not exist (S3 <c>If-None-Match: *</c>).</summary>
    public static WriteCondition IfAbsent => new(null);

    /// <summary>Replace only the version read before (S3 <c>If-Match</c>).</summary>
    public static WriteCondition IfMatch(string etag)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(etag);
        return new WriteCondition(etag.Trim('"'));
    }

    /// <summary><see cref="IfMatch"/> for an existing object, <see cref="IfAbsent"/> when there was none.</summary>
    public static WriteCondition For(VersionedObject? current) => current is null ? IfAbsent : IfMatch(current.ETag);

    public override string ToString() => ETag is null ? "if absent" : $"if match {ETag}";
}

/// <summary>Outcome of a conditional write.</summary>
public enum ConditionalPutOutcome
{
    /// <summary>The condition held and the object was written.</summary>
    Written = 1,

    /// <summary>The object changed (or exists, or is gone) since it was read: nothing was written. Read again and retry.</summary>
    PreconditionFailed = 2,
}

/// <param name="ETag">The new version tag when <see cref="ConditionalPutOutcome.Written"/>.</param>
public readonly record struct ConditionalPutResult(ConditionalPutOutcome Outcome, string? ETag)
{
    public static ConditionalPutResult PreconditionFailed => new(ConditionalPutOutcome.PreconditionFailed, null);

    public bool Written => Outcome == ConditionalPutOutcome.Written;
}

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
