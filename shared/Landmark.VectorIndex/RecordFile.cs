using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

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

    /// <summary>Bytes read from the file at a time (a multiple of the largest record, so every record fits).</summary>
    private const int ReadBufferBytes = 4 * MaxRecordBytes;

    /// <summary>
    /// Reads the records of a file in order and hands each to <paramref name="apply"/>. A record that is incomplete or
    /// fails its CRC at the end of the file is a torn write: it and what follows are ignored. A damaged record in the
    /// middle (complete records follow it) is not silently dropped with everything after it: the damaged bytes are
    /// reported, the file is copied to <c>*.corrupt-*</c> for inspection, and replay resumes at the next intact record.
    /// Returns the length of the file up to the end of its last intact record, 0 when even the header is incomplete.
    /// Throws <see cref="InvalidDataException"/> when the file is not in this format.
    /// <para>The file is read sequentially in 4 MiB blocks (no seek per record); a record's vector is handed over as a
    /// span into the block, and payload keys and repeated payload values are shared strings, so replaying a snapshot of
    /// a million points allocates little besides what the collection keeps.</para>
    /// </summary>
    public static long Replay(string path, RecordHandler apply, ILogger logger)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(handle);
        if (length < HeaderLength)
        {
            if (length > 0)
            {
                logger.LogWarning("{Path}: incomplete {Bytes}-byte header ignored (torn write)", path, length);
            }
            return 0;
        }
        Span<byte> header = stackalloc byte[HeaderLength];
        if (RandomAccess.Read(handle, header, 0) != HeaderLength || !header.SequenceEqual(Header))
        {
            throw new InvalidDataException($"'{path}' is not a vector index file of a known format version.");
        }
        var reader = new BlockReader(handle, length, HeaderLength);
        var strings = new StringPool();
        long valid = HeaderLength;
        long position = HeaderLength;
        try
        {
            while (length - position >= RecordPrefixLength)
            {
                if (reader.TryRead(position, out var body))
                {
                    apply(Decode(body, strings));
                    position += RecordPrefixLength + body.Length;
                    valid = position;
                    continue;
                }
                var next = FindNextRecord(handle, position + 1, length);
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
            reader.Dispose();
        }
        if (valid < length)
        {
            logger.LogWarning("{Path}: {Bytes} bytes after the last complete record ignored (torn write)", path, length - valid);
        }
        return valid;
    }

    /// <summary>The body of the record framed at a position when its length is in range, it is complete and its CRC
    /// matches; read through one block buffer that slides forward over the file.</summary>
    private sealed class BlockReader(SafeFileHandle handle, long length, long start) : IDisposable
    {
        // A file smaller than a block (a short write-ahead log) gets a buffer of its own size.
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ReadBufferBytes, Math.Max(RecordPrefixLength, length - start)));
        private long _bufferStart = start; // file offset of _buffer[0]
        private int _filled;

        public bool TryRead(long position, out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!Ensure(position, RecordPrefixLength))
            {
                return false;
            }
            var offset = (int)(position - _bufferStart);
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(offset));
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(offset + 4));
            if (bodyLength <= 0 || bodyLength > MaxRecordBytes || bodyLength > length - position - RecordPrefixLength
                || !Ensure(position, RecordPrefixLength + bodyLength))
            {
                return false;
            }
            offset = (int)(position - _bufferStart);
            var candidate = _buffer.AsSpan(offset + RecordPrefixLength, bodyLength);
            if (Crc32.HashToUInt32(candidate) != crc || !IsKnownOperation(candidate[0]))
            {
                return false;
            }
            body = candidate;
            return true;
        }

        /// <summary>Makes <c>file[position, position + count)</c> present in the buffer; false at the end of the file.</summary>
        private bool Ensure(long position, int count)
        {
            if (position < _bufferStart || position - _bufferStart > _filled)
            {
                _bufferStart = position; // a jump (past damage): start the buffer over
                _filled = 0;
            }
            var offset = (int)(position - _bufferStart);
            if (offset + count <= _filled)
            {
                return true;
            }
            // Slide what is left to the front and fill the rest from the file.
            _buffer.AsSpan(offset, _filled - offset).CopyTo(_buffer);
            _filled -= offset;
            _bufferStart = position;
            while (_filled < count)
            {
                var read = RandomAccess.Read(handle, _buffer.AsSpan(_filled), _bufferStart + _filled);
                if (read == 0)
                {
                    return false;
                }
                _filled += read;
            }
            return true;
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>The offset of the first intact record at or after <paramref name="from"/>, or -1 (only after damage).</summary>
    private static long FindNextRecord(SafeFileHandle handle, long from, long length)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(RecordPrefixLength + MaxRecordBytes);
        try
        {
            for (var position = from; length - position >= RecordPrefixLength; position++)
            {
                var prefix = scratch.AsSpan(0, RecordPrefixLength);
                if (RandomAccess.Read(handle, prefix, position) < RecordPrefixLength)
                {
                    return -1;
                }
                var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(prefix);
                if (bodyLength <= 0 || bodyLength > MaxRecordBytes || bodyLength > length - position - RecordPrefixLength)
                {
                    continue;
                }
                var body = scratch.AsSpan(RecordPrefixLength, bodyLength);
                if (RandomAccess.Read(handle, body, position + RecordPrefixLength) == bodyLength
                    && Crc32.HashToUInt32(body) == BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]) && IsKnownOperation(body[0]))
                {
                    return position;
                }
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static bool IsKnownOperation(byte op) => op is OpUpsert or OpDelete or OpGeneration;

    private static Record Decode(ReadOnlySpan<byte> body, StringPool strings)
    {
        var reader = new SpanReader(body);
        var op = reader.ReadByte();
        var id = reader.ReadString(null);
        switch (op)
        {
            case OpDelete:
                return new Record(op, id, default, null);
            case OpGeneration:
                return new Record(op, id, default, null);
            case OpUpsert:
                var vector = reader.ReadFloats(reader.ReadInt32());
                var count = reader.ReadInt32();
                if (count < 0 || count > body.Length)
                {
                    throw new InvalidDataException($"Record declares {count} payload entries.");
                }
                var payload = new Dictionary<string, string>(count, StringComparer.Ordinal);
                for (var i = 0; i < count; i++)
                {
                    var key = reader.ReadString(strings.Keys);
                    payload[key] = reader.ReadString(strings.ValuesOf(key));
                }
                return new Record(op, id, vector, payload);
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

    /// <summary>A decoded record: an upsert (<see cref="IsUpsert"/>: <see cref="Vector"/> and <see cref="Payload"/> set), a
    /// snapshot's generation (in <see cref="Id"/>) or a delete. <see cref="Vector"/> points into the replay's read buffer
    /// and is valid only during the callback.</summary>
    public readonly ref struct Record(byte op, string id, ReadOnlySpan<float> vector, Dictionary<string, string>? payload)
    {
        public string Id { get; } = id;

        public ReadOnlySpan<float> Vector { get; } = vector;

        public Dictionary<string, string>? Payload { get; } = payload;

        public bool IsUpsert => op == OpUpsert;

        public bool IsGeneration => op == OpGeneration;
    }

    /// <summary>Receives each record of a replay in file order.</summary>
    public delegate void RecordHandler(Record record);

    /// <summary>
    /// Shared strings for payload keys and their repeated values (landmark ids, roles): a value is pooled per key until
    /// that key has <see cref="MaxValuesPerKey"/> distinct values (image ids stop being pooled; landmark ids of a large
    /// gallery mostly are). Looked up by UTF-8 → UTF-16 characters without allocating.
    /// </summary>
    private sealed class StringPool
    {
        private const int MaxValuesPerKey = 1 << 16;
        private readonly Dictionary<string, Pool> _values = new(StringComparer.Ordinal);

        public Pool Keys { get; } = new();

        public Pool ValuesOf(string key)
        {
            if (!_values.TryGetValue(key, out var pool))
            {
                _values[key] = pool = new Pool();
            }
            return pool;
        }

        public sealed class Pool
        {
            private readonly HashSet<string> _strings = new(StringComparer.Ordinal);

            public string Get(ReadOnlySpan<char> chars)
            {
                var lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
                if (lookup.TryGetValue(chars, out var found))
                {
                    return found;
                }
                var value = new string(chars);
                if (_strings.Count < MaxValuesPerKey)
                {
                    _strings.Add(value);
                }
                return value;
            }
        }
    }

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

        /// <summary>A length-prefixed UTF-8 string, from <paramref name="pool"/> when one is given.</summary>
        public string ReadString(StringPool.Pool? pool)
        {
            var length = Read7BitEncodedInt();
            if (length < 0 || length > _data.Length - _position)
            {
                throw new InvalidDataException($"Record declares a {length}-byte string but holds {_data.Length - _position} bytes.");
            }
            var bytes = _data.Slice(_position, length);
            _position += length;
            if (pool is null || length > 256)
            {
                return Encoding.UTF8.GetString(bytes);
            }
            Span<char> chars = stackalloc char[256];
            var written = Encoding.UTF8.GetChars(bytes, chars);
            return pool.Get(chars[..written]);
        }

        /// <summary>The vector as a span over the record (copied only on a big-endian machine).</summary>
        public ReadOnlySpan<float> ReadFloats(int count)
        {
            if (count < 0 || (long)count * sizeof(float) > _data.Length - _position)
            {
                throw new InvalidDataException($"Record declares {count} floats but holds {(_data.Length - _position) / sizeof(float)}.");
            }
            var bytes = _data.Slice(_position, count * sizeof(float));
            _position += bytes.Length;
            if (BitConverter.IsLittleEndian)
            {
                return MemoryMarshal.Cast<byte, float>(bytes);
            }
            var values = new float[count];
            for (var i = 0; i < count; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
            }
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
