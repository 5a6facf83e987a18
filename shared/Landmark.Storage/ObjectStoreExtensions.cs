using System.Runtime.InteropServices;

namespace Landmark.Storage;

public static class ObjectStoreExtensions
{
    public static async Task PutBytesAsync(this IObjectStore store, string bucket, string key, ReadOnlyMemory<byte> bytes,
        string contentType = "application/octet-stream", IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        // A read-only view of the caller's bytes, not a copy (an image's raw bytes are often above the large-object size).
        using var stream = MemoryMarshal.TryGetArray(bytes, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);
        await store.PutAsync(bucket, key, stream, bytes.Length, contentType, metadata, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The object's bytes. Throws <see cref="ObjectNotFoundException"/> when it does not exist.</summary>
    public static async Task<byte[]> GetBytesAsync(this IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken = default) =>
        await store.TryGetBytesAsync(bucket, key, cancellationToken).ConfigureAwait(false)
            ?? throw new ObjectNotFoundException(bucket, key);

    /// <summary><see cref="IObjectStore.TryGetBytesAsync"/> on top of <see cref="IObjectStore.OpenReadAsync"/>: a
    /// stream that knows its length (the S3 store's downloads do) is read into an array of that length at once, any
    /// other one through a growing buffer.</summary>
    internal static async Task<byte[]?> TryReadAllBytesViaStreamAsync(IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken)
    {
        Stream stream;
        try
        {
            stream = await store.OpenReadAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        await using (stream.ConfigureAwait(false))
        {
            if (stream.CanSeek && stream.Length - stream.Position is var length && length <= Array.MaxLength)
            {
                var bytes = GC.AllocateUninitializedArray<byte>((int)length);
                await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
                return bytes;
            }
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }

    public static async Task<bool> ExistsAsync(this IObjectStore store, string bucket, string key,
        CancellationToken cancellationToken = default) =>
        await store.StatAsync(bucket, key, cancellationToken).ConfigureAwait(false) is not null;
}
