namespace Landmark.Storage;

public static class ObjectStoreExtensions
{
    public static async Task PutBytesAsync(this IObjectStore store, string bucket, string key, ReadOnlyMemory<byte> bytes,
        string contentType = "application/octet-stream", IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        await store.PutAsync(bucket, key, stream, bytes.Length, contentType, metadata, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<byte[]> GetBytesAsync(this IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken = default)
    {
        await using var stream = await store.OpenReadAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>The object's bytes, or null when it does not exist.</summary>
    public static async Task<byte[]?> TryGetBytesAsync(this IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken = default)
    {
        try
        {
            return await store.GetBytesAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    public static async Task<bool> ExistsAsync(this IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken = default) =>
        await store.StatAsync(bucket, key, cancellationToken).ConfigureAwait(false) is not null;
}
