using Landmark.Storage;

namespace Landmark.Testing;

/// <summary>An object store that passes every call to <paramref name="inner"/>: a test's store derives from it and
/// overrides only the calls it counts, slows down or fails.</summary>
public abstract class DelegatingObjectStore(IObjectStore inner) : IObjectStore
{
    protected IObjectStore Inner { get; } = inner;

    public virtual Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default) =>
        Inner.EnsureBucketAsync(bucket, cancellationToken);

    public virtual Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default) =>
        Inner.PutAsync(bucket, key, content, length, contentType, metadata, cancellationToken);

    public virtual Task<ConditionalPutResult> PutIfAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType,
        WriteCondition condition, CancellationToken cancellationToken = default) =>
        Inner.PutIfAsync(bucket, key, content, contentType, condition, cancellationToken);

    public virtual Task<VersionedObject?> GetVersionedAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        Inner.GetVersionedAsync(bucket, key, cancellationToken);

    public virtual Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        Inner.OpenReadAsync(bucket, key, cancellationToken);

    public virtual Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        Inner.StatAsync(bucket, key, cancellationToken);

    public virtual Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default) =>
        Inner.DeleteAsync(bucket, key, cancellationToken);

    public virtual IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "", CancellationToken cancellationToken = default) =>
        Inner.ListAsync(bucket, prefix, cancellationToken);
}
