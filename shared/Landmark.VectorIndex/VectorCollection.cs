using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Landmark.VectorIndex;

/// <summary>
/// One collection of <see cref="EmbeddedVectorIndex"/>: unit vectors in one contiguous buffer (row per point), ids and
/// payloads beside it, and on disk a snapshot plus a write-ahead log (<see cref="RecordFile"/>).
/// Concurrency: writers are serialised by a writer gate and do their slow work (log append + fsync, compaction)
/// outside the reader-writer lock, taking its write lock only to apply changes in memory, in short chunks; so searches
/// never wait for a disk flush or a long batch.
/// </summary>
internal sealed class VectorCollection : IDisposable
{
    public const string MetaFile = "collection.json";
    public const string SnapshotFile = "snapshot.bin";
    public const string LogFile = "wal.bin";

    /// <summary>Points applied per write-lock hold (bounds how long a search can wait behind an upsert).</summary>
    private const int ApplyChunk = 1024;

    /// <summary>Queries scored together per pass over the vectors (each row is read from memory once per group).</summary>
    private const int QueryGroup = 8;

    private readonly string _dir;
    private readonly ILogger _logger;
    private readonly long _compactionThreshold;
    private readonly object _writeGate = new();
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);

    // In-memory state: mutated only under the write lock of _lock while holding _writeGate.
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<IReadOnlyDictionary<string, string>> _payloads = [];
    private float[] _vectors;
    private long _version;

    /// <summary>Recent payload-filter masks (one bool per slot), valid while <see cref="_version"/> is unchanged.</summary>
    private readonly Dictionary<string, (long Version, bool[] Mask)> _filterMasks = new(StringComparer.Ordinal);

    private FileStream? _log;
    private long _snapshotBytes;
    private bool _disposed;

    private VectorCollection(string dir, string name, int dimension, long compactionThreshold, ILogger logger)
    {
        _dir = dir;
        Name = name;
        Dimension = dimension;
        _compactionThreshold = compactionThreshold;
        _logger = logger;
        _vectors = new float[dimension * 64];
    }

    public string Name { get; }

    public int Dimension { get; }

    /// <summary>Number of points.</summary>
    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _ids.Count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, MetaFile));

    /// <summary>Creates an empty collection in <paramref name="dir"/> (files left there by an earlier collection are removed).</summary>
    public static VectorCollection Create(string dir, string name, int dimension, long compactionThreshold, ILogger logger)
    {
        Directory.CreateDirectory(dir);
        File.Delete(Path.Combine(dir, SnapshotFile));
        File.Delete(Path.Combine(dir, LogFile));
        var collection = new VectorCollection(dir, name, dimension, compactionThreshold, logger);
        collection._log = OpenLog(Path.Combine(dir, LogFile), validLength: 0);
        // The metadata file is written last: it is what makes the directory a collection.
        AtomicFile.Write(Path.Combine(dir, MetaFile), stream => JsonSerializer.Serialize(stream, new Meta(dimension)));
        logger.LogInformation("Collection {Name} created ({Dimension} dimensions)", name, dimension);
        return collection;
    }

    /// <summary>Loads the snapshot, replays the log (a torn last record is dropped and cut off) and opens the log for appending.</summary>
    public static VectorCollection Open(string dir, string name, long compactionThreshold, ILogger logger)
    {
        Meta meta;
        using (var stream = File.OpenRead(Path.Combine(dir, MetaFile)))
        {
            meta = JsonSerializer.Deserialize<Meta>(stream) is { Dimension: > 0 } m
                ? m
                : throw new InvalidDataException($"Unreadable collection metadata in '{dir}'.");
        }
        var collection = new VectorCollection(dir, name, meta.Dimension, compactionThreshold, logger);
        var snapshot = Path.Combine(dir, SnapshotFile);
        if (File.Exists(snapshot))
        {
            collection._snapshotBytes = RecordFile.Replay(snapshot, collection.ApplyLoaded, logger);
        }
        var log = Path.Combine(dir, LogFile);
        var validLog = File.Exists(log) ? RecordFile.Replay(log, collection.ApplyLoaded, logger) : 0;
        collection._log = OpenLog(log, validLog);
        logger.LogInformation("Collection {Name}: {Count} vectors of {Dimension} dimensions loaded", name, collection._ids.Count, meta.Dimension);
        return collection;
    }

    public void Upsert(IReadOnlyList<VectorPoint> points)
    {
        var vectors = new float[points.Count][];
        var payloads = new IReadOnlyDictionary<string, string>[points.Count];
        for (var i = 0; i < points.Count; i++)
        {
            var p = points[i];
            ArgumentNullException.ThrowIfNull(p);
            if (string.IsNullOrEmpty(p.Id))
            {
                throw new ArgumentException("Point ids must not be empty.", nameof(points));
            }
            CheckDimension(p.Vector, $"Point '{p.Id}'");
            vectors[i] = Normalized(p.Vector, $"Point '{p.Id}'");
            payloads[i] = new Dictionary<string, string>(p.Payload ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        }
        using var records = new MemoryStream();
        for (var i = 0; i < points.Count; i++)
        {
            RecordFile.WriteUpsert(records, points[i].Id, vectors[i], payloads[i]);
        }
        lock (_writeGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Append(records);
            for (var start = 0; start < points.Count; start += ApplyChunk)
            {
                var end = Math.Min(points.Count, start + ApplyChunk);
                _lock.EnterWriteLock();
                try
                {
                    for (var i = start; i < end; i++)
                    {
                        ApplyUpsert(points[i].Id, vectors[i], payloads[i]);
                    }
                    _version++;
                }
                finally
                {
                    _lock.ExitWriteLock();
                }
            }
            CompactIfDue();
        }
    }

    public void Delete(IReadOnlyList<string> ids)
    {
        using var records = new MemoryStream();
        foreach (var id in ids)
        {
            RecordFile.WriteDelete(records, id);
        }
        lock (_writeGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Append(records);
            for (var start = 0; start < ids.Count; start += ApplyChunk)
            {
                var end = Math.Min(ids.Count, start + ApplyChunk);
                _lock.EnterWriteLock();
                try
                {
                    for (var i = start; i < end; i++)
                    {
                        ApplyDelete(ids[i]);
                    }
                    _version++;
                }
                finally
                {
                    _lock.ExitWriteLock();
                }
            }
            CompactIfDue();
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

    public long CountMatching(PayloadFilter? filter)
    {
        _lock.EnterReadLock();
        try
        {
            if (filter is null || filter.MustEqual.Count == 0)
            {
                return _ids.Count;
            }
            var mask = MaskFor(filter)!;
            long count = 0;
            foreach (var match in mask)
            {
                if (match)
                {
                    count++;
                }
            }
            return count;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Exact top-<paramref name="limit"/> by cosine for each query; queries are scored in groups, groups in parallel.</summary>
    public IReadOnlyList<IReadOnlyList<SearchHit>> Search(IReadOnlyList<float[]> queries, int limit, PayloadFilter? filter)
    {
        var normalized = new float[queries.Count][];
        for (var i = 0; i < queries.Count; i++)
        {
            CheckDimension(queries[i], $"Query {i}");
            normalized[i] = Normalized(queries[i], $"Query {i}");
        }
        var results = new IReadOnlyList<SearchHit>[queries.Count];
        if (queries.Count == 0)
        {
            return results;
        }
        _lock.EnterReadLock();
        try
        {
            var mask = MaskFor(filter);
            var groups = (queries.Count + QueryGroup - 1) / QueryGroup;
            if (groups == 1)
            {
                SearchGroup(normalized, 0, queries.Count, limit, mask, results);
            }
            else
            {
                // The read lock is held by this thread for the whole parallel loop, so the workers see a stable state.
                Parallel.For(0, groups, g =>
                {
                    var from = g * QueryGroup;
                    SearchGroup(normalized, from, Math.Min(queries.Count, from + QueryGroup), limit, mask, results);
                });
            }
            return results;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Folds the log into a new snapshot now.</summary>
    public void Compact()
    {
        lock (_writeGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CompactCore();
        }
    }

    /// <summary>Closes the log; waits for running searches.</summary>
    public void Dispose()
    {
        lock (_writeGate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _log?.Dispose();
        }
        _lock.EnterWriteLock();
        _lock.ExitWriteLock();
        _lock.Dispose();
    }

    /// <summary>Scores queries <paramref name="from"/>..<paramref name="to"/> in one pass over the vectors, skipping slots the filter mask rejects.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the hot loop: fully optimised from the first call
    private void SearchGroup(float[][] queries, int from, int to, int limit, bool[]? mask, IReadOnlyList<SearchHit>[] results)
    {
        var count = _ids.Count;
        var dimension = Dimension;
        var vectors = _vectors;
        var heaps = new TopK[to - from];
        for (var j = 0; j < heaps.Length; j++)
        {
            heaps[j] = new TopK(Math.Min(limit, count));
        }
        for (var slot = 0; slot < count; slot++)
        {
            if (mask is not null && !mask[slot])
            {
                continue;
            }
            ReadOnlySpan<float> row = vectors.AsSpan(slot * dimension, dimension);
            for (var j = 0; j < heaps.Length; j++)
            {
                heaps[j].Offer(TensorPrimitives.Dot(row, queries[from + j]), slot);
            }
        }
        for (var j = 0; j < heaps.Length; j++)
        {
            results[from + j] = heaps[j].ToHits(_ids, _payloads);
        }
    }

    /// <summary>
    /// Which slots match <paramref name="filter"/> (null: no filter). Caller holds the read lock. Masks are cached per
    /// filter until the next write, so repeated searches with the same filter (the usual case) skip the payload lookups.
    /// </summary>
    private bool[]? MaskFor(PayloadFilter? filter)
    {
        if (filter is null || filter.MustEqual.Count == 0)
        {
            return null;
        }
        var key = string.Join('\u0001', filter.MustEqual.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + '\u0002' + kv.Value));
        lock (_filterMasks)
        {
            if (_filterMasks.TryGetValue(key, out var cached) && cached.Version == _version)
            {
                return cached.Mask;
            }
        }
        var mask = new bool[_ids.Count];
        for (var slot = 0; slot < mask.Length; slot++)
        {
            mask[slot] = Matches(_payloads[slot], filter);
        }
        lock (_filterMasks)
        {
            if (_filterMasks.Count >= 16)
            {
                _filterMasks.Clear();
            }
            _filterMasks[key] = (_version, mask);
        }
        return mask;
    }

    private static bool Matches(IReadOnlyDictionary<string, string> payload, PayloadFilter filter)
    {
        foreach (var (key, value) in filter.MustEqual)
        {
            if (!payload.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }

    private void ApplyLoaded(RecordFile.Operation operation)
    {
        if (operation.Vector is null)
        {
            ApplyDelete(operation.Id);
            return;
        }
        if (operation.Vector.Length != Dimension)
        {
            throw new InvalidDataException($"Collection '{Name}': record for '{operation.Id}' has {operation.Vector.Length} dimensions, not {Dimension}.");
        }
        ApplyUpsert(operation.Id, operation.Vector, operation.Payload!);
    }

    private void ApplyUpsert(string id, float[] vector, IReadOnlyDictionary<string, string> payload)
    {
        if (!_slots.TryGetValue(id, out var slot))
        {
            slot = _ids.Count;
            var needed = (long)(slot + 1) * Dimension;
            if (needed > _vectors.Length)
            {
                var grown = Math.Min(Array.MaxLength, Math.Max((long)_vectors.Length * 2, needed));
                Array.Resize(ref _vectors, (int)grown);
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
            // Move the last point into the hole so the vectors stay contiguous.
            _vectors.AsSpan(last * Dimension, Dimension).CopyTo(_vectors.AsSpan(slot * Dimension, Dimension));
            _ids[slot] = _ids[last];
            _payloads[slot] = _payloads[last];
            _slots[_ids[slot]] = slot;
        }
        _ids.RemoveAt(last);
        _payloads.RemoveAt(last);
    }

    private void CheckDimension(float[] vector, string what)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (vector.Length != Dimension)
        {
            throw new ArgumentException($"{what} has {vector.Length} dimensions, but collection '{Name}' holds {Dimension}-dimensional vectors.");
        }
    }

    /// <summary>A unit-length copy (cosine similarity becomes a dot product).</summary>
    private static float[] Normalized(float[] vector, string what)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (!float.IsFinite(norm) || norm == 0)
        {
            throw new ArgumentException($"{what} must have a finite, non-zero length (cosine similarity is undefined otherwise).");
        }
        var result = new float[vector.Length];
        TensorPrimitives.Divide(vector, norm, result);
        return result;
    }

    private void Append(MemoryStream records)
    {
        records.Position = 0;
        records.CopyTo(_log!);
        _log!.Flush(flushToDisk: true);
    }

    private void CompactIfDue()
    {
        if (_log!.Length - RecordFile.HeaderLength >= Math.Max(_compactionThreshold, _snapshotBytes))
        {
            CompactCore();
        }
    }

    /// <summary>
    /// Writes every point to a new snapshot (temp file, fsync, rename over the old one), then empties the log. A crash
    /// between the rename and the truncation only replays operations the snapshot already holds, which is harmless.
    /// Runs under the writer gate only: nothing mutates meanwhile, and searches go on.
    /// </summary>
    private void CompactCore()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var path = Path.Combine(_dir, SnapshotFile);
        var count = _ids.Count;
        AtomicFile.Write(path, stream =>
        {
            RecordFile.WriteHeader(stream);
            for (var slot = 0; slot < count; slot++)
            {
                RecordFile.WriteUpsert(stream, _ids[slot], _vectors.AsSpan(slot * Dimension, Dimension), _payloads[slot]);
            }
        });
        _snapshotBytes = new FileInfo(path).Length;
        _log!.SetLength(RecordFile.HeaderLength);
        _log.Seek(0, SeekOrigin.End);
        _log.Flush(flushToDisk: true);
        _logger.LogInformation("Collection {Name} compacted: {Count} vectors, {Bytes} bytes snapshot in {Elapsed:F0} ms",
            Name, count, _snapshotBytes, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Opens the log for appending after its valid prefix (cutting off a torn tail; writing the header when empty).</summary>
    private static FileStream OpenLog(string path, long validLength)
    {
        var log = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        if (validLength < RecordFile.HeaderLength)
        {
            log.SetLength(0);
            RecordFile.WriteHeader(log);
            log.Flush(flushToDisk: true);
        }
        else if (log.Length != validLength)
        {
            log.SetLength(validLength);
            log.Flush(flushToDisk: true);
        }
        log.Seek(0, SeekOrigin.End);
        return log;
    }

    private sealed record Meta(int Dimension);

    /// <summary>The best <c>k</c> (score, slot) pairs seen, kept in a min-heap on score.</summary>
    private sealed class TopK(int capacity)
    {
        private readonly float[] _scores = new float[capacity];
        private readonly int[] _slots = new int[capacity];
        private int _count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Offer(float score, int slot)
        {
            if (_count < _scores.Length)
            {
                var i = _count++;
                while (i > 0)
                {
                    var parent = (i - 1) / 2;
                    if (_scores[parent] <= score)
                    {
                        break;
                    }
                    _scores[i] = _scores[parent];
                    _slots[i] = _slots[parent];
                    i = parent;
                }
                _scores[i] = score;
                _slots[i] = slot;
            }
            else if (_count > 0 && score > _scores[0])
            {
                SiftDown(score, slot);
            }
        }

        private void SiftDown(float score, int slot)
        {
            var i = 0;
            while (true)
            {
                var child = 2 * i + 1;
                if (child >= _count)
                {
                    break;
                }
                if (child + 1 < _count && _scores[child + 1] < _scores[child])
                {
                    child++;
                }
                if (_scores[child] >= score)
                {
                    break;
                }
                _scores[i] = _scores[child];
                _slots[i] = _slots[child];
                i = child;
            }
            _scores[i] = score;
            _slots[i] = slot;
        }

        /// <summary>Hits by descending score (ties by id, so results are deterministic).</summary>
        public List<SearchHit> ToHits(List<string> ids, List<IReadOnlyDictionary<string, string>> payloads)
        {
            var hits = new List<SearchHit>(_count);
            for (var i = 0; i < _count; i++)
            {
                hits.Add(new SearchHit(ids[_slots[i]], _scores[i], payloads[_slots[i]]));
            }
            hits.Sort(static (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : string.CompareOrdinal(a.Id, b.Id));
            return hits;
        }
    }
}
