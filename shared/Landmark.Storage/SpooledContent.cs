namespace Landmark.Storage;

/// <summary>Copies a stream into memory up to a limit and into a temporary file (deleted when closed) beyond it.</summary>
internal static class SpooledContent
{
    private const int BufferSize = 81920;

    /// <summary>A readable, seekable copy of <paramref name="source"/>'s remaining bytes, positioned at 0.</summary>
    public static async Task<Stream> CopyAsync(Stream source, long memoryLimit, CancellationToken cancellationToken)
    {
        var memory = new MemoryStream();
        Stream target = memory;
        try
        {
            var buffer = new byte[BufferSize];
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (target == memory && memory.Length + read > memoryLimit)
                {
                    var file = new FileStream(Path.Combine(Path.GetTempPath(), $"landmark-spool-{Guid.NewGuid():N}"), FileMode.CreateNew,
                        FileAccess.ReadWrite, FileShare.None, BufferSize, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
                    target = file;
                    memory.Position = 0;
                    await memory.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                    await memory.DisposeAsync().ConfigureAwait(false);
                }
                await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
            await target.FlushAsync(cancellationToken).ConfigureAwait(false);
            target.Position = 0;
            return target;
        }
        catch
        {
            await target.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <summary>Passes reads through and remembers whether any byte was consumed (such a body cannot be sent again).</summary>
internal sealed class ReadTrackingStream(Stream inner) : Stream
{
    /// <summary>True once a read returned data.</summary>
    public bool Consumed { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Track(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Track(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Track(int read)
    {
        Consumed |= read > 0;
        return read;
    }
}
