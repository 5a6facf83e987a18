using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Landmark.VectorIndex;

/// <summary>
/// The on-disk format shared by a collection's write-ahead log and its snapshot: an 8-byte file header
/// (<see cref="Header"/>) followed by records, each <c>[int32 body length][uint32 CRC-32 of body][body]</c>
/// (little-endian). A record body is an operation: <c>[op][id]</c> for a delete, and
/// <c>[op][id][int32 dimension][dimension × float32][int32 payload count][key, value]*</c> for an upsert, strings being
/// UTF-8 with a 7-bit encoded length prefix.
/// </summary>
internal static class RecordFile
{
    public const byte OpUpsert = 1;
    public const byte OpDelete = 2;

    /// <summary>A snapshot's first record: the generation id that ties it to the HNSW graph saved with it.</summary>
    public const byte OpGeneration = 3;
    public const int HeaderLength = 8;
    private const int RecordPrefixLength = 8;

    /// <summary>No real record is larger (a 65,536-dimensional vector with a large payload); a larger length is damage.</summary>
    private const int MaxRecordBytes = 1 << 20;

    /// <summary>"LMVI" + format version 1.</summary>
    public static ReadOnlySpan<byte> Header => "LMVI\u0001\0\0\0"u8;

    public static void WriteHeader(Stream target) => target.Write(Header);

    /// <summary>Frames one record body (length + CRC) onto <paramref name="target"/>.</summary>
    public static void WriteRecord(Stream target, ReadOnlySpan<byte> body)
    {
        Span<byte> prefix = stackalloc byte[RecordPrefixLength];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix[4..], Crc32.HashToUInt32(body));
        target.Write(prefix);
        target.Write(body);
    }

    /// <summary>Appends the framed upsert record of one point.</summary>
    public static void WriteUpsert(Stream target, string id, ReadOnlySpan<float> vector, IReadOnlyDictionary<string, string> payload)
    {
        using var body = new MemoryStream(32 + vector.Length * sizeof(float));
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(OpUpsert);
            writer.Write(id);
            writer.Write(vector.Length);
            writer.Write(AsLittleEndianBytes(vector));
            writer.Write(payload.Count);
            foreach (var (key, value) in payload)
            {
                writer.Write(key);
                writer.Write(value);
            }
        }
        WriteRecord(target, body.GetBuffer().AsSpan(0, (int)body.Length));
    }

    /// <summary>Appends the framed delete record of one id.</summary>
    public static void WriteDelete(Stream target, string id)
    {
        using var body = new MemoryStream(16 + id.Length);
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(OpDelete);
            writer.Write(id);
        }
        WriteRecord(target, body.GetBuffer().AsSpan(0, (int)body.Length));
    }

    /// <summary>Appends the generation record a snapshot starts with.</summary>
    public static void WriteGeneration(Stream target, string generation)
    {
        using var body = new MemoryStream(48);
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(OpGeneration);
            writer.Write(generation);
        }
        WriteRecord(target, body.GetBuffer().AsSpan(0, (int)body.Length));
    }

    /// <summary>
    /// Reads the records of a file in order and hands each to <paramref name="apply"/>. A record that is incomplete or
    /// fails its CRC at the end of the file is a torn write: it and what follows are ignored. A damaged record in the
    /// middle (complete records follow it) is not silently dropped with everything after it: the damaged bytes are
    /// reported, the file is copied to <c>*.corrupt-*</c> for inspection, and replay resumes at the next intact record.
    /// Returns the length of the file up to the end of its last intact record, 0 when even the header is incomplete.
    /// Throws <see cref="InvalidDataException"/> when the file is not in this format.
    /// </summary>
    public static long Replay(string path, Action<Operation> apply, ILogger logger)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var length = file.Length;
        if (length < HeaderLength)
        {
            if (length > 0)
            {
                logger.LogWarning("{Path}: incomplete {Bytes}-byte header ignored (torn write)", path, length);
            }
            return 0;
        }
        Span<byte> header = stackalloc byte[HeaderLength];
        file.ReadExactly(header);
        if (!header.SequenceEqual(Header))
        {
            throw new InvalidDataException($"'{path}' is not a vector index file of a known format version.");
        }
        long valid = HeaderLength;
        long position = HeaderLength;
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (length - position >= RecordPrefixLength)
            {
                if (TryReadRecord(file, position, length, ref buffer, out var bodyLength))
                {
                    apply(Decode(buffer.AsSpan(0, bodyLength)));
                    position += RecordPrefixLength + bodyLength;
                    valid = position;
                    continue;
                }
                var next = FindNextRecord(file, position + 1, length, ref buffer);
                if (next < 0)
                {
                    break; // nothing intact follows: a torn tail
                }
                var copy = $"{path}.corrupt-{DateTime.UtcNow:yyyyMMddTHHmmssZ}";
                File.Copy(path, copy, overwrite: true);
                logger.LogError("{Path}: {Bytes} damaged bytes at offset {Offset} skipped (a record that fails its CRC); the intact records after them are kept. A copy of the file before repair is in {Copy}",
                    path, next - position, position, copy);
                position = next;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (valid < length)
        {
            logger.LogWarning("{Path}: {Bytes} bytes after the last complete record ignored (torn write)", path, length - valid);
        }
        return valid;
    }

    /// <summary>Reads the record framed at <paramref name="position"/> into <paramref name="buffer"/>; false when its
    /// length is out of range or its CRC does not match.</summary>
    private static bool TryReadRecord(FileStream file, long position, long length, ref byte[] buffer, out int bodyLength)
    {
        Span<byte> prefix = stackalloc byte[RecordPrefixLength];
        file.Position = position;
        file.ReadExactly(prefix);
        bodyLength = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        if (bodyLength <= 0 || bodyLength > MaxRecordBytes || bodyLength > length - position - RecordPrefixLength)
        {
            return false;
        }
        if (buffer.Length < bodyLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(bodyLength);
        }
        var body = buffer.AsSpan(0, bodyLength);
        file.ReadExactly(body);
        return Crc32.HashToUInt32(body) == crc && IsKnownOperation(body[0]);
    }

    /// <summary>The offset of the first intact record at or after <paramref name="from"/>, or -1.</summary>
    private static long FindNextRecord(FileStream file, long from, long length, ref byte[] buffer)
    {
        for (var position = from; length - position >= RecordPrefixLength; position++)
        {
            if (TryReadRecord(file, position, length, ref buffer, out _))
            {
                return position;
            }
        }
        return -1;
    }

    private static bool IsKnownOperation(byte op) => op is OpUpsert or OpDelete or OpGeneration;

    private static Operation Decode(ReadOnlySpan<byte> body)
    {
        var reader = new SpanReader(body);
        var op = reader.ReadByte();
        var id = reader.ReadString();
        switch (op)
        {
            case OpDelete:
                return new Operation(id, null, null);
            case OpGeneration:
                return new Operation(id, null, null, IsGeneration: true);
            case OpUpsert:
                var vector = reader.ReadFloats(reader.ReadInt32());
                var count = reader.ReadInt32();
                var payload = new Dictionary<string, string>(count, StringComparer.Ordinal);
                for (var i = 0; i < count; i++)
                {
                    var key = reader.ReadString();
                    payload[key] = reader.ReadString();
                }
                return new Operation(id, vector, payload);
            default:
                throw new InvalidDataException($"Unknown record operation {op}.");
        }
    }

    private static ReadOnlySpan<byte> AsLittleEndianBytes(ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            return MemoryMarshal.AsBytes(values);
        }
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        }
        return bytes;
    }

    /// <summary>A decoded record: an upsert when <see cref="Vector"/> is set, a snapshot's generation (in <see cref="Id"/>)
    /// when <see cref="IsGeneration"/>, otherwise a delete.</summary>
    public readonly record struct Operation(string Id, float[]? Vector, Dictionary<string, string>? Payload, bool IsGeneration = false);

    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte ReadByte() => _data[_position++];

        public int ReadInt32()
        {
            var value = BinaryPrimitives.ReadInt32LittleEndian(_data[_position..]);
            _position += sizeof(int);
            return value;
        }

        public string ReadString()
        {
            var length = Read7BitEncodedInt();
            var value = Encoding.UTF8.GetString(_data.Slice(_position, length));
            _position += length;
            return value;
        }

        public float[] ReadFloats(int count)
        {
            if (count < 0 || (long)count * sizeof(float) > _data.Length - _position)
            {
                throw new InvalidDataException($"Record declares {count} floats but holds {(_data.Length - _position) / sizeof(float)}.");
            }
            var values = new float[count];
            var bytes = _data.Slice(_position, count * sizeof(float));
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
                }
            }
            _position += bytes.Length;
            return values;
        }

        private int Read7BitEncodedInt()
        {
            var result = 0;
            for (var shift = 0; shift < 35; shift += 7)
            {
                var b = ReadByte();
                result |= (b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }
            throw new InvalidDataException("Malformed string length in record.");
        }
    }
}
