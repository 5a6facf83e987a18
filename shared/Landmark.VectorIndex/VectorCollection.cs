using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Landmark.VectorIndex;

/// <summary>One collection of <see cref="EmbeddedVectorIndex"/>: vectors in one contiguous buffer, a write-ahead log
/// and a snapshot on disk.</summary>
internal sealed class VectorCollection : IDisposable
{
    private const string MetaFile = "collection.json";
    private const string SnapshotFile = "snapshot.bin";
    private const string LogFile = "wal.bin";
    private const byte OpUpsert = 1;
    private const byte OpDelete = 2;
    private const long MinCompactionBytes = 4 * 1024 * 1024;

    private readonly string _dir;
    private readonly ILogger _logger;
    private readonly ReaderWriterLockSlim _lock = new();
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<IReadOnlyDictionary<string, string>> _payloads = [];
    private float[] _vectors;
    private FileStream _log;
    private long _snapshotBytes;

    private VectorCollection(string dir, string name, int dimension, ILogger logger)
    {
        _dir = dir;
        Name = name;
        Dimension = dimension;
        _logger = logger;
        _vectors = new float[dimension * 64];
        _log = null!;
    }

    public string Name { get; }
    public int Dimension { get; }

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, MetaFile));

    public static VectorCollection Create(string dir, string name, int dimension, ILogger logger)
    {
        Directory.CreateDirectory(dir);
        var meta = Path.Combine(dir, MetaFile);
        File.WriteAllText(meta + ".tmp", JsonSerializer.Serialize(new Meta(dimension)));
        File.Move(meta + ".tmp", meta, overwrite: true);
        var collection = new VectorCollection(dir, name, dimension, logger);
        collection._log = OpenLog(dir);
        return collection;
    }

    public static VectorCollection Open(string dir, string name, ILogger logger)
    {
        var meta = JsonSerializer.Deserialize<Meta>(File.ReadAllText(Path.Combine(dir, MetaFile)))
            ?? throw new InvalidDataException($"Unreadable collection metadata in {dir}");
        var collection = new VectorCollection(dir, name, meta.Dimension, logger);
        var snapshot = Path.Combine(dir, SnapshotFile);
        if (File.Exists(snapshot))
        {
            collection._snapshotBytes = collection.Replay(snapshot, truncateTornTail: false);
        }
        collection.Replay(Path.Combine(dir, LogFile), truncateTornTail: true);
        collection._log = OpenLog(dir);
        logger.LogInformation("Collection {Name}: {Count} vectors of {Dimension} dimensions loaded", name, collection._ids.Count, meta.Dimension);
        return collection;
    }

    public void Upsert(IReadOnlyList<VectorPoint> points)
    {
        foreach (var p in points)
        {
            if (p.Vector.Length != Dimension)
            {
                throw new ArgumentException($"Point '{p.Id}' has {p.Vector.Length} dimensions; collection '{Name}' holds {Dimension}.");
            }
            if (string.IsNullOrEmpty(p.Id))
            {
                throw new ArgumentException("Point ids must not be empty.");
            }
        }
        using var record = new MemoryStream();
        foreach (var p in points)
        {
            WriteRecord(record, Encode(OpUpsert, p.Id, Normalize(p.Vector), p.Payload));
        }
        _lock.EnterWriteLock();
        try
        {
            Append(record);
            foreach (var p in points)
            {
                ApplyUpsert(p.Id, Normalize(p.Vector), p.Payload);
            }
            CompactIfNeeded();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    public void Delete(IReadOnlyList<string> ids)
    {
        using var record = new MemoryStream();
        foreach (var id in ids)
        {
            WriteRecord(record, Encode(OpDelete, id, null, null));
        }
        _lock.EnterWriteLock();
        try
        {
            Append(record);
            foreach (var id in ids)
            {
                ApplyDelete(id);
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    public VectorPoint? Get(string id)
    {
        _lock.EnterReadLock();
        try
        {
            return _slots.TryGetValue(id, out var slot)
                ? new VectorPoint(id, _vectors.AsSpan(slot * Dimension, Dimension).ToArray(), _payloads[slot])
                : null;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public long Count(PayloadFilter? filter)
    {
        _lock.EnterReadLock();
        try
        {
            return filter is null ? _ids.Count : _payloads.Count(p => Matches(p, filter));
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public IReadOnlyList<IReadOnlyList<SearchHit>> Search(IReadOnlyList<float[]> queries, int limit, PayloadFilter? filter)
    {
        foreach (var q in queries)
        {
            if (q.Length != Dimension)
            {
                throw new ArgumentException($"Query has {q.Length} dimensions; collection '{Name}' holds {Dimension}.");
            }
        }
        _lock.EnterReadLock();
        try
        {
            var results = new IReadOnlyList<SearchHit>[queries.Count];
            var allowed = filter is null ? null : _payloads.Select(p => Matches(p, filter)).ToArray();
            if (queries.Count == 1)
            {
                results[0] = SearchOne(Normalize(queries[0]), limit, allowed);
            }
            else
            {
                Parallel.For(0, queries.Count, i => results[i] = SearchOne(Normalize(queries[i]), limit, allowed));
            }
            return results;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private List<SearchHit> SearchOne(float[] query, int limit, bool[]? allowed)
    {
        var count = _ids.Count;
        var heap = new PriorityQueue<int, float>(limit + 1);
        var vectors = _vectors.AsSpan(0, count * Dimension);
        for (var i = 0; i < count; i++)
        {
            if (allowed is not null && !allowed[i])
            {
                continue;
            }
            var score = TensorPrimitives.Dot(vectors.Slice(i * Dimension, Dimension), query);
            if (heap.Count < limit)
            {
                heap.Enqueue(i, score);
            }
            else if (heap.TryPeek(out _, out var worst) && score > worst)
            {
                heap.DequeueEnqueue(i, score);
            }
        }
        var hits = new List<SearchHit>(heap.Count);
        while (heap.TryDequeue(out var slot, out var score))
        {
            hits.Add(new SearchHit(_ids[slot], score, _payloads[slot]));
        }
        hits.Reverse();
        return hits;
    }

    private static bool Matches(IReadOnlyDictionary<string, string> payload, PayloadFilter filter)
    {
        foreach (var (key, value) in filter.MustEqual)
        {
            if (!payload.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }
        return true;
    }

    private void ApplyUpsert(string id, float[] vector, IReadOnlyDictionary<string, string> payload)
    {
        if (!_slots.TryGetValue(id, out var slot))
        {
            slot = _ids.Count;
            if ((slot + 1) * Dimension > _vectors.Length)
            {
                Array.Resize(ref _vectors, Math.Max(_vectors.Length * 2, (slot + 1) * Dimension));
            }
            _ids.Add(id);
            _payloads.Add(payload);
            _slots[id] = slot;
        }
        else
        {
            _payloads[slot] = payload;
        }
        vector.CopyTo(_vectors.AsSpan(slot * Dimension, Dimension));
    }

    private void ApplyDelete(string id)
    {
        if (!_slots.Remove(id, out var slot))
        {
            return;
        }
        var last = _ids.Count - 1;
        if (slot != last)
        {
            // Move the last point into the hole so vectors stay contiguous.
            _vectors.AsSpan(last * Dimension, Dimension).CopyTo(_vectors.AsSpan(slot * Dimension, Dimension));
            _ids[slot] = _ids[last];
            _payloads[slot] = _payloads[last];
            _slots[_ids[slot]] = slot;
        }
        _ids.RemoveAt(last);
        _payloads.RemoveAt(last);
    }

    private float[] Normalize(float[] vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm is 0 or float.NaN)
        {
            throw new ArgumentException("Vectors must have a finite, non-zero length.");
        }
        if (Math.Abs(norm - 1f) < 1e-6f)
        {
            return vector;
        }
        var result = new float[vector.Length];
        TensorPrimitives.Divide(vector, norm, result);
        return result;
    }

    private void Append(MemoryStream records)
    {
        records.Position = 0;
        records.CopyTo(_log);
        _log.Flush(flushToDisk: true);
    }

    private void CompactIfNeeded()
    {
        if (_log.Length < Math.Max(MinCompactionBytes, _snapshotBytes))
        {
            return;
        }
        var snapshot = Path.Combine(_dir, SnapshotFile);
        var temp = snapshot + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            for (var i = 0; i < _ids.Count; i++)
            {
                WriteRecord(file, Encode(OpUpsert, _ids[i], _vectors.AsSpan(i * Dimension, Dimension).ToArray(), _payloads[i]));
            }
            file.Flush(flushToDisk: true);
            _snapshotBytes = file.Length;
        }
        File.Move(temp, snapshot, overwrite: true);
        // Everything in the log is in the snapshot now.
        _log.SetLength(0);
        _log.Flush(flushToDisk: true);
        _logger.LogInformation("Collection {Name} compacted: {Count} vectors, snapshot {Bytes} bytes", Name, _ids.Count, _snapshotBytes);
    }

    /// <summary>Applies the records of a file; returns the length of its valid prefix.</summary>
    private long Replay(string path, bool truncateTornTail)
    {
        if (!File.Exists(path))
        {
            return 0;
        }
        long valid = 0;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read))
        {
            var header = new byte[8];
            while (true)
            {
                if (file.Read(header, 0, 8) < 8)
                {
                    break;
                }
                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                if (length <= 0 || length > file.Length - file.Position)
                {
                    break;
                }
                var body = new byte[length];
                file.ReadExactly(body);
                if (Crc32.HashToUInt32(body) != crc)
                {
                    break;
                }
                Apply(body);
                valid = file.Position;
            }
            if (valid < file.Length)
            {
                _logger.LogWarning("{Path}: ignoring {Bytes} bytes after the last complete record (torn write)", path, file.Length - valid);
            }
        }
        if (truncateTornTail && valid < new FileInfo(path).Length)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            file.SetLength(valid);
        }
        return valid;
    }

    private void Apply(byte[] body)
    {
        using var reader = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
        var op = reader.ReadByte();
        var id = reader.ReadString();
        if (op == OpDelete)
        {
            ApplyDelete(id);
            return;
        }
        var vector = new float[reader.ReadInt32()];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = reader.ReadSingle();
        }
        var count = reader.ReadInt32();
        var payload = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            payload[reader.ReadString()] = reader.ReadString();
        }
        ApplyUpsert(id, vector, payload);
    }

    private static byte[] Encode(byte op, string id, float[]? vector, IReadOnlyDictionary<string, string>? payload)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(op);
            writer.Write(id);
            if (op == OpUpsert)
            {
                writer.Write(vector!.Length);
                foreach (var v in vector)
                {
                    writer.Write(v);
                }
                writer.Write(payload!.Count);
                foreach (var (k, v) in payload)
                {
                    writer.Write(k);
                    writer.Write(v);
                }
            }
        }
        return stream.ToArray();
    }

    private static void WriteRecord(Stream target, byte[] body)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(header, body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Crc32.HashToUInt32(body));
        target.Write(header);
        target.Write(body);
    }

    private static FileStream OpenLog(string dir) =>
        new(Path.Combine(dir, LogFile), FileMode.Append, FileAccess.Write, FileShare.Read);

    public void Dispose()
    {
        _log.Dispose();
        _lock.Dispose();
    }

    private sealed record Meta(int Dimension);
}
