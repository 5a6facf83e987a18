using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Landmark.VectorIndex;

/// <summary>
/// One collection of <see cref="EmbeddedVectorIndex"/>: unit vectors in one contiguous buffer (row per point), ids and
/// payloads beside it, and on disk a snapshot plus a write-ahead log (<see cref="RecordFile"/>). Unless the search mode is
/// exact, an HNSW graph (<see cref="HnswGraph"/>) indexes the same points by a stable key per point; its candidates are
/// re-scored against the float32 vectors. The graph is saved with each snapshot (same generation id) and loaded with it,
/// so opening a large collection does not rebuild it; log records after the snapshot are replayed into it.
/// Concurrency: writers are serialised by a writer gate and do their slow work (log append + fsync, compaction)
/// outside the reader-writer lock, taking its write lock only to apply changes in memory, in short chunks; so searches
/// never wait for a disk flush or a long batch.
/// </summary>
internal sealed class VectorCollection : IDisposable
{
    public const string MetaFile = "collection.json";
    public const string SnapshotFile = "snapshot.bin";
    public const string LogFile = "wal.bin";
    public const string GraphKeysFile = "hnsw.keys";
    private const string GraphFilePrefix = "hnsw-";
    private const string GraphFileSuffix = ".usearch";

    /// <summary>Inserts into the graph run in parallel from this many points on.</summary>
    private const int ParallelGraphInsert = 64;

    /// <summary>Points applied per write-lock hold (bounds how long a search can wait behind an upsert).</summary>
    private const int ApplyChunk = 1024;

    /// <summary>Queries scored together per pass over the vectors (each row is read from memory once per group).</summary>
    private const int QueryGroup = 8;

    private readonly string _dir;
    private readonly ILogger _logger;
    private readonly long _compactionThreshold;
    private readonly EmbeddedIndexOptions _options;
    private readonly object _writeGate = new();

    /// <summary>Writes waiting for the log (group commit, see <see cref="Commit"/>); locked on itself.</summary>
    private readonly Queue<PendingWrite> _pending = new();
    private long _logFlushes;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);

    // In-memory state: mutated only under the write lock of _lock while holding _writeGate.
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<IReadOnlyDictionary<string, string>> _payloads = [];
    private readonly List<ulong> _keys = [];
    private readonly Dictionary<ulong, int> _slotOfKey = [];
    private float[] _vectors;
    private long _version;
    private ulong _nextKey;
    private string? _generation;
    private HnswGraph? _graph;

    /// <summary>Recent payload-filter masks (one bool per slot) with their match counts, valid while <see cref="_version"/> is unchanged.</summary>
    private readonly Dictionary<string, (long Version, bool[] Mask, int Matches)> _filterMasks = new(StringComparer.Ordinal);

    private FileStream? _log;
    private long _snapshotBytes;
    private bool _disposed;

    private VectorCollection(string dir, string name, int dimension, EmbeddedIndexOptions options, ILogger logger)
    {
        _dir = dir;
        Name = name;
        Dimension = dimension;
        _options = options;
        _compactionThreshold = options.CompactionThresholdBytes;
        _logger = logger;
        _vectors = new float[dimension * 64];
    }

    public string Name { get; }

    /// <summary>Appends flushed to disk so far (one per group of concurrent writes).</summary>
    internal long LogFlushes => Interlocked.Read(ref _logFlushes);

    /// <summary>Writes queued for the next group commit.</summary>
    internal int PendingWrites
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>The lock that serialises writers (held by whoever commits a group): tests hold it to gather a group.</summary>
    internal object WriterGate => _writeGate;

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

    /// <summary>True when an HNSW graph is kept for this collection.</summary>
    public bool HasGraph => _graph is not null;

    /// <summary>Bytes of memory moved onto huge pages for this collection's graph so far (<see cref="HnswOptions.HugePages"/>).</summary>
    private long _hugePageBytes;

    public EmbeddedCollectionInfo Describe()
    {
        _lock.EnterReadLock();
        try
        {
            return new EmbeddedCollectionInfo(_ids.Count, Dimension, UseGraph(null), _graph?.MemoryBytes ?? 0, (long)_ids.Count * Dimension * sizeof(float),
                Interlocked.Read(ref _hugePageBytes));
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Where the graph came from when the collection was opened or created.</summary>
    public GraphSource GraphSource { get; private set; }

    /// <summary>True when an unfiltered search now goes to the graph (search mode and collection size).</summary>
    public bool SearchesGraph
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return UseGraph(null);
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Creates an empty collection in <paramref name="dir"/> (files left there by an earlier collection are removed).</summary>
    public static VectorCollection Create(string dir, string name, int dimension, EmbeddedIndexOptions options, ILogger logger)
    {
        Directory.CreateDirectory(dir);
        File.Delete(Path.Combine(dir, SnapshotFile));
        File.Delete(Path.Combine(dir, LogFile));
        DeleteGraphFiles(dir, keep: null);
        var collection = new VectorCollection(dir, name, dimension, options, logger);
        if (options.Search != EmbeddedSearchMode.Exact)
        {
            collection._graph = HnswGraph.Create(dimension, options.Hnsw);
            collection._graph.Reserve(1024);
            collection.GraphSource = GraphSource.Created;
        }
        collection._log = OpenLog(Path.Combine(dir, LogFile), validLength: 0);
        // The metadata file is written last: it is what makes the directory a collection.
        AtomicFile.Write(Path.Combine(dir, MetaFile), stream => JsonSerializer.Serialize(stream, new Meta(dimension)));
        logger.LogInformation("Collection {Name} created ({Dimension} dimensions)", name, dimension);
        return collection;
    }

    /// <summary>Loads the snapshot, replays the log (a torn last record is dropped and cut off) and opens the log for appending.</summary>
    public static VectorCollection Open(string dir, string name, EmbeddedIndexOptions options, ILogger logger)
    {
        Meta meta;
        using (var stream = File.OpenRead(Path.Combine(dir, MetaFile)))
        {
            meta = JsonSerializer.Deserialize<Meta>(stream) is { Dimension: > 0 } m
                ? m
                : throw new InvalidDataException($"Unreadable collection metadata in '{dir}'.");
        }
        var collection = new VectorCollection(dir, name, meta.Dimension, options, logger);
        var snapshot = Path.Combine(dir, SnapshotFile);
        Task<HnswGraph>? graphLoad = null;
        try
        {
            if (File.Exists(snapshot))
            {
                var replayStarted = System.Diagnostics.Stopwatch.GetTimestamp();
                collection.Presize(new FileInfo(snapshot).Length);
                collection._snapshotBytes = RecordFile.Replay(snapshot, record =>
                {
                    // The generation comes first: the graph saved with it loads on another core while the points are read.
                    if (record.IsGeneration && graphLoad is null && options.Search != EmbeddedSearchMode.Exact && File.Exists(GraphFile(dir, record.Id)))
                    {
                        var file = GraphFile(dir, record.Id);
                        graphLoad = Task.Run(() => HnswGraph.Load(file, meta.Dimension, options.Hnsw));
                    }
                    collection.ApplyLoaded(record);
                }, logger);
                logger.LogInformation("Collection {Name}: snapshot of {Count} points ({Bytes} bytes) read in {Elapsed:F0} ms", name, collection._ids.Count,
                    collection._snapshotBytes, System.Diagnostics.Stopwatch.GetElapsedTime(replayStarted).TotalMilliseconds);
            }
            if (options.Search != EmbeddedSearchMode.Exact)
            {
                var loading = graphLoad;
                graphLoad = null; // LoadOrBuildGraph owns it from here
                collection.LoadOrBuildGraph(loading);
            }
        }
        catch
        {
            DisposeWhenLoaded(graphLoad);
            collection._graph?.Dispose();
            throw;
        }
        var log = Path.Combine(dir, LogFile);
        var validLog = File.Exists(log) ? RecordFile.Replay(log, collection.ApplyLoaded, logger) : 0;
        collection._log = OpenLog(log, validLog);
        logger.LogInformation("Collection {Name}: {Count} vectors of {Dimension} dimensions loaded", name, collection._ids.Count, meta.Dimension);
        return collection;
    }

    /// <summary>Sizes the buffers for the points a snapshot of <paramref name="snapshotBytes"/> holds (estimated from the
    /// record size), so loading a large collection does not grow them step by step (copying gigabytes).</summary>
    private void Presize(long snapshotBytes)
    {
        var estimated = (int)Math.Min(int.MaxValue / 2, snapshotBytes / ((long)Dimension * sizeof(float) + 32) + 64);
        var length = Math.Min(Array.MaxLength, (long)estimated * Dimension);
        if (length > _vectors.Length)
        {
            _vectors = new float[length];
        }
        _slots.EnsureCapacity(estimated);
        _slotOfKey.EnsureCapacity(estimated);
        _ids.Capacity = Math.Max(_ids.Capacity, estimated);
        _payloads.Capacity = Math.Max(_payloads.Capacity, estimated);
        _keys.Capacity = Math.Max(_keys.Capacity, estimated);
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
        var records = new MemoryStream();
        for (var i = 0; i < points.Count; i++)
        {
            RecordFile.WriteUpsert(records, points[i].Id, vectors[i], payloads[i]);
        }
        Commit(records, () =>
        {
            // Into the graph first (concurrently with searches), then into the maps: a search never misses a point
            // that was findable before this upsert, and ignores graph keys it cannot map yet.
            var keys = InsertIntoGraph(points.Select(p => p.Id).ToList(), vectors);
            for (var start = 0; start < points.Count; start += ApplyChunk)
            {
                var end = Math.Min(points.Count, start + ApplyChunk);
                _lock.EnterWriteLock();
                try
                {
                    for (var i = start; i < end; i++)
                    {
                        ApplyUpsert(points[i].Id, vectors[i], payloads[i], keys[i]);
                    }
                    _version++;
                }
                finally
                {
                    _lock.ExitWriteLock();
                }
            }
        });
    }

    public void Delete(IReadOnlyList<string> ids)
    {
        var records = new MemoryStream();
        foreach (var id in ids)
        {
            RecordFile.WriteDelete(records, id);
        }
        Commit(records, () =>
        {
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
        });
    }

    /// <summary>
    /// Makes one write durable, then applies it in memory. Group commit: the write joins <see cref="_pending"/>, and
    /// whichever writer holds the writer gate next appends every pending write's records to the log with one fsync and
    /// applies them in log order; a writer that finds its write done returns. Concurrent writers (the indexing consumer
    /// runs several) thus share a flush instead of queueing one flush each. If the append fails, the log is cut back to
    /// where the group began and every write of the group fails; nothing of it is applied.
    /// </summary>
    private void Commit(MemoryStream records, Action apply)
    {
        var write = new PendingWrite(records, apply);
        lock (_pending)
        {
            _pending.Enqueue(write);
        }
        lock (_writeGate)
        {
            if (!write.Done)
            {
                PendingWrite[] group;
                lock (_pending)
                {
                    group = [.. _pending];
                    _pending.Clear();
                }
                CommitGroup(group);
            }
        }
        if (write.Failure is { } failure)
        {
            failure.Throw();
        }
    }

    /// <summary>Appends, flushes and applies <paramref name="group"/> (caller holds the writer gate).</summary>
    private void CommitGroup(PendingWrite[] group)
    {
        try
        {
            if (_disposed)
            {
                foreach (var write in group)
                {
                    write.Fail(new ObjectDisposedException(nameof(VectorCollection), $"Collection '{Name}' is closed."));
                }
                return;
            }
            var start = _log!.Length;
            try
            {
                foreach (var write in group)
                {
                    write.Records.Position = 0;
                    write.Records.CopyTo(_log);
                }
                _log.Flush(flushToDisk: true);
                Interlocked.Increment(ref _logFlushes);
            }
            catch (Exception ex)
            {
                TruncateLog(start);
                foreach (var write in group)
                {
                    write.Fail(write == group[0] ? ex : new IOException($"Collection '{Name}': the write-ahead log could not be written: {ex.Message}", ex));
                }
                return;
            }
            foreach (var write in group)
            {
                try
                {
                    write.Apply();
                }
                catch (Exception ex)
                {
                    // In the log already: replayed on the next open.
                    write.Fail(ex);
                }
            }
            CompactIfDue();
        }
        finally
        {
            foreach (var write in group)
            {
                write.Done = true;
                write.Records.Dispose();
            }
        }
    }

    /// <summary>Cuts a failed append off the log, so the next append does not follow a torn record (best effort: if even
    /// that fails, the torn tail is cut when the collection is next opened, with what follows it).</summary>
    private void TruncateLog(long length)
    {
        try
        {
            _log!.SetLength(length);
            _log.Seek(0, SeekOrigin.End);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(ex, "Collection {Name}: could not cut a failed append off the write-ahead log", Name);
        }
    }

    /// <summary>One writer's log records and the in-memory change that follows them.</summary>
    private sealed class PendingWrite(MemoryStream records, Action apply)
    {
        public MemoryStream Records { get; } = records;

        public Action Apply { get; } = apply;

        /// <summary>Set by the committing writer under the writer gate; read by the owner after taking the gate.</summary>
        public bool Done { get; set; }

        public System.Runtime.ExceptionServices.ExceptionDispatchInfo? Failure { get; private set; }

        public void Fail(Exception error) => Failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error);
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
            return MaskFor(filter)!.Value.Matches;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Top-<paramref name="limit"/> by cosine for each query: from the HNSW graph when the search mode and the collection's
    /// size call for it (candidates re-scored exactly), otherwise by an exact scan (queries in groups, groups in parallel).
    /// </summary>
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
            var filtered = MaskFor(filter);
            var mask = filtered?.Mask;
            if (UseGraph(filtered?.Matches))
            {
                if (queries.Count == 1)
                {
                    results[0] = SearchGraph(normalized[0], limit, mask);
                }
                else
                {
                    Parallel.For(0, queries.Count, i => results[i] = SearchGraph(normalized[i], limit, mask));
                }
                return results;
            }
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
        _graph?.Dispose();
        _graph = null;
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
    private (bool[] Mask, int Matches)? MaskFor(PayloadFilter? filter)
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
                return (cached.Mask, cached.Matches);
            }
        }
        var mask = new bool[_ids.Count];
        var matches = 0;
        for (var slot = 0; slot < mask.Length; slot++)
        {
            if (mask[slot] = Matches(_payloads[slot], filter))
            {
                matches++;
            }
        }
        lock (_filterMasks)
        {
            if (_filterMasks.Count >= 16)
            {
                _filterMasks.Clear();
            }
            _filterMasks[key] = (_version, mask, matches);
        }
        return (mask, matches);
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

    /// <summary>Applies a snapshot or log record while the collection is opened (single-threaded, no searches yet).
    /// Snapshot records only fill the maps (the graph is loaded or built after the snapshot); log records also go into the graph.</summary>
    private void ApplyLoaded(RecordFile.Record record)
    {
        if (record.IsGeneration)
        {
            _generation = record.Id;
            return;
        }
        if (!record.IsUpsert)
        {
            ApplyDelete(record.Id);
            return;
        }
        if (record.Vector.Length != Dimension)
        {
            throw new InvalidDataException($"Collection '{Name}': record for '{record.Id}' has {record.Vector.Length} dimensions, not {Dimension}.");
        }
        var key = _graph is null ? _nextKey++ : InsertIntoGraph([record.Id], [record.Vector.ToArray()])[0];
        ApplyUpsert(record.Id, record.Vector, record.Payload!, key);
    }

    /// <summary>Disposes the graph a background load returns (once it has), when the collection will not use it.</summary>
    private static void DisposeWhenLoaded(Task<HnswGraph>? load) =>
        load?.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                t.Result.Dispose();
            }
            _ = t.Exception; // observed: a failed load of a graph nobody uses is not an error
        }, TaskScheduler.Default);

    private void ApplyUpsert(string id, ReadOnlySpan<float> vector, IReadOnlyDictionary<string, string> payload, ulong key)
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
            _keys.Add(key);
            _slots[id] = slot;
        }
        else
        {
            _payloads[slot] = payload;
            var old = _keys[slot];
            if (old != key)
            {
                _slotOfKey.Remove(old);
                _graph?.Remove(old);
                _keys[slot] = key;
            }
        }
        _slotOfKey[key] = slot;
        vector.CopyTo(_vectors.AsSpan(slot * Dimension, Dimension));
    }

    private void ApplyDelete(string id)
    {
        if (!_slots.Remove(id, out var slot))
        {
            return;
        }
        var key = _keys[slot];
        _slotOfKey.Remove(key);
        _graph?.Remove(key);
        var last = _ids.Count - 1;
        if (slot != last)
        {
            // Move the last point into the hole so the vectors stay contiguous.
            _vectors.AsSpan(last * Dimension, Dimension).CopyTo(_vectors.AsSpan(slot * Dimension, Dimension));
            _ids[slot] = _ids[last];
            _payloads[slot] = _payloads[last];
            _keys[slot] = _keys[last];
            _slots[_ids[slot]] = slot;
            _slotOfKey[_keys[slot]] = slot;
        }
        _ids.RemoveAt(last);
        _payloads.RemoveAt(last);
        _keys.RemoveAt(last);
    }

    /// <summary>
    /// Gives each point its graph key and inserts those that need it (caller holds the writer gate, so the maps are
    /// stable; searches may run). A point whose vector is unchanged keeps its key; a changed or new one gets a new key
    /// (the old key is removed when the change is applied). Without a graph, keys are only handed out.
    /// </summary>
    private ulong[] InsertIntoGraph(IReadOnlyList<string> ids, float[][] vectors)
    {
        var keys = new ulong[ids.Count];
        var inserts = new List<int>(ids.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            if (_graph is not null && _slots.TryGetValue(ids[i], out var slot)
                && _vectors.AsSpan(slot * Dimension, Dimension).SequenceEqual(vectors[i]))
            {
                keys[i] = _keys[slot];
                continue;
            }
            keys[i] = _nextKey++;
            inserts.Add(i);
        }
        if (_graph is null || inserts.Count == 0)
        {
            return keys;
        }
        var graph = _graph;
        if (graph.Count + inserts.Count > graph.Capacity)
        {
            var capacity = Math.Max(graph.Capacity * 2, graph.Count + inserts.Count);
            _lock.EnterWriteLock(); // reallocation must not run beside a search
            try
            {
                graph.Reserve(capacity);
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
        if (inserts.Count < ParallelGraphInsert)
        {
            foreach (var i in inserts)
            {
                graph.Add(keys[i], vectors[i]);
            }
        }
        else
        {
            Parallel.ForEach(inserts, i => graph.Add(keys[i], vectors[i]));
        }
        return keys;
    }

    /// <summary>Whether a search goes to the graph (caller holds the read lock).</summary>
    private bool UseGraph(int? filterMatches)
    {
        if (_graph is null || _ids.Count == 0)
        {
            return false;
        }
        if (_options.Search == EmbeddedSearchMode.Auto && _ids.Count < _options.HnswMinimumPoints)
        {
            return false;
        }
        // A very selective filter: scanning its few matches beats walking a graph of mostly rejected points.
        return filterMatches is not { } matches || matches >= _options.Hnsw.FilteredScanBelowFraction * _ids.Count;
    }

    /// <summary>One query through the graph: candidates (accepted by the filter mask during the walk), re-scored
    /// against the float32 vectors, best <paramref name="limit"/> kept. Caller holds the read lock.</summary>
    private List<SearchHit> SearchGraph(float[] query, int limit, bool[]? mask)
    {
        var wanted = Math.Min(_ids.Count, Math.Max(limit, limit * _options.Hnsw.Oversampling));
        var keys = new ulong[wanted];
        var slotOfKey = _slotOfKey;
        Func<ulong, bool>? accept = mask is null ? null : key => slotOfKey.TryGetValue(key, out var s) && mask[s];
        var found = _graph!.Search(query, keys, accept);
        var candidates = new List<(float Score, int Slot)>(found);
        for (var i = 0; i < found; i++)
        {
            // Keys inserted by an upsert that has not reached the maps yet are skipped.
            if (slotOfKey.TryGetValue(keys[i], out var slot) && (mask is null || mask[slot]))
            {
                candidates.Add((TensorPrimitives.Dot(_vectors.AsSpan(slot * Dimension, Dimension), query), slot));
            }
        }
        var hits = candidates.Select(c => new SearchHit(_ids[c.Slot], c.Score, _payloads[c.Slot])).ToList();
        hits.Sort(static (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : string.CompareOrdinal(a.Id, b.Id));
        if (hits.Count > limit)
        {
            hits.RemoveRange(limit, hits.Count - limit);
        }
        return hits;
    }

    /// <summary>
    /// At open, after the snapshot: loads the graph saved with it when its generation and size match, otherwise builds
    /// one from the vectors (first use of HNSW on an existing collection, or a crash between saving a graph and its snapshot).
    /// </summary>
    private void LoadOrBuildGraph(Task<HnswGraph>? loading)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var saved = _generation is null ? null : ReadGraphKeys(_dir, _generation, _ids.Count);
        if (saved is null)
        {
            DisposeWhenLoaded(loading);
            loading = null;
        }
        DeleteGraphFiles(_dir, keep: _generation);
        if (saved is not null)
        {
            try
            {
                _graph = loading is not null
                    ? loading.GetAwaiter().GetResult()
                    : HnswGraph.Load(GraphFile(_dir, _generation!), Dimension, _options.Hnsw);
                if (_graph.Count == _ids.Count)
                {
                    _slotOfKey.Clear();
                    for (var slot = 0; slot < saved.Length; slot++)
                    {
                        _keys[slot] = saved[slot];
                        _slotOfKey[saved[slot]] = slot;
                    }
                    _nextKey = saved.Length == 0 ? 0 : saved.Max() + 1;
                    GraphSource = GraphSource.Loaded;
                    _logger.LogInformation("Collection {Name}: HNSW graph of {Count} points loaded ({Elapsed:F0} ms after the snapshot was read)", Name, _ids.Count,
                        System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    UseHugePages();
                    return;
                }
                _logger.LogWarning("Collection {Name}: the saved HNSW graph holds {GraphCount} points, the snapshot {Count}; rebuilding it", Name, _graph.Count, _ids.Count);
            }
            catch (Exception e) when (e is InvalidOperationException or InvalidDataException or IOException)
            {
                _logger.LogWarning(e, "Collection {Name}: the saved HNSW graph could not be loaded; rebuilding it", Name);
            }
            _graph?.Dispose();
            _graph = null;
        }
        _graph = HnswGraph.Create(Dimension, _options.Hnsw);
        _graph.Reserve(Math.Max(1024, _ids.Count));
        var graph = _graph;
        Parallel.For(0, _ids.Count, slot => graph.Add(_keys[slot], _vectors.AsSpan(slot * Dimension, Dimension)));
        GraphSource = _ids.Count == 0 ? GraphSource.Created : GraphSource.Rebuilt;
        if (_ids.Count > 0)
        {
            _logger.LogInformation("Collection {Name}: HNSW graph of {Count} points built in {Elapsed:F1} s ({Library})", Name, _ids.Count,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, HnswGraph.Describe());
            UseHugePages();
        }
    }

    /// <summary>Moves the graph's new memory onto huge pages (<see cref="HnswOptions.HugePages"/>) and logs the outcome.</summary>
    private void UseHugePages()
    {
        if (_graph is null)
        {
            return;
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var outcome = _graph.UseHugePages();
        Interlocked.Add(ref _hugePageBytes, outcome.CollapsedBytes);
        if (outcome.FailedBytes > 0)
        {
            _logger.LogInformation("Collection {Name}: {Failed} MiB of the HNSW graph stay on 4 KiB pages ({Reason}); {Collapsed} MiB moved to huge pages",
                Name, outcome.FailedBytes >> 20, outcome.Error, outcome.CollapsedBytes >> 20);
        }
        else if (outcome.CollapsedBytes > 0)
        {
            _logger.LogInformation("Collection {Name}: {Collapsed} MiB of the HNSW graph moved to 2 MiB huge pages in {Elapsed:F0} ms", Name,
                outcome.CollapsedBytes >> 20, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        else if (outcome.Error is not null && _ids.Count >= _options.HnswMinimumPoints)
        {
            _logger.LogInformation("Collection {Name}: the HNSW graph stays on 4 KiB pages ({Reason})", Name, outcome.Error);
        }
    }

    private static string GraphFile(string dir, string generation) => Path.Combine(dir, GraphFilePrefix + generation + GraphFileSuffix);

    /// <summary>The slot-ordered keys saved with the graph of <paramref name="generation"/>, or null when the keys file is
    /// missing, of another generation or count, or damaged.</summary>
    private static ulong[]? ReadGraphKeys(string dir, string generation, int count)
    {
        var path = Path.Combine(dir, GraphKeysFile);
        if (!File.Exists(path) || !File.Exists(GraphFile(dir, generation)))
        {
            return null;
        }
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            if (reader.ReadString() != generation || reader.ReadInt32() != count)
            {
                return null;
            }
            var bytes = reader.ReadBytes(count * sizeof(ulong));
            var crc = reader.ReadUInt32();
            if (bytes.Length != count * sizeof(ulong) || System.IO.Hashing.Crc32.HashToUInt32(bytes) != crc)
            {
                return null;
            }
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes).ToArray();
        }
        catch (EndOfStreamException)
        {
            return null;
        }
    }

    /// <summary>Deletes graph files other than those of <paramref name="keep"/> (left by crashes or earlier generations).</summary>
    private static void DeleteGraphFiles(string dir, string? keep)
    {
        foreach (var file in Directory.EnumerateFiles(dir, GraphFilePrefix + "*" + GraphFileSuffix + "*"))
        {
            if (keep is null || Path.GetFileName(file) != GraphFilePrefix + keep + GraphFileSuffix)
            {
                File.Delete(file);
            }
        }
        if (keep is null)
        {
            File.Delete(Path.Combine(dir, GraphKeysFile));
        }
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
    /// With a graph, the graph (file named by a new generation id) and its slot-ordered keys are written first and the
    /// snapshot records that generation: a crash before the snapshot's rename leaves a generation no snapshot names, so
    /// the graph is rebuilt rather than paired with the wrong points.
    /// Runs under the writer gate only: nothing mutates meanwhile, and searches go on.
    /// </summary>
    private void CompactCore()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var path = Path.Combine(_dir, SnapshotFile);
        var count = _ids.Count;
        var generation = Guid.NewGuid().ToString("N");
        if (_graph is not null)
        {
            _graph.Save(GraphFile(_dir, generation));
            var keys = System.Runtime.InteropServices.MemoryMarshal.AsBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_keys)).ToArray();
            AtomicFile.Write(Path.Combine(_dir, GraphKeysFile), stream =>
            {
                using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
                writer.Write(generation);
                writer.Write(count);
                writer.Write(keys);
                writer.Write(System.IO.Hashing.Crc32.HashToUInt32(keys));
            });
        }
        AtomicFile.Write(path, stream =>
        {
            RecordFile.WriteHeader(stream);
            RecordFile.WriteGeneration(stream, generation);
            for (var slot = 0; slot < count; slot++)
            {
                RecordFile.WriteUpsert(stream, _ids[slot], _vectors.AsSpan(slot * Dimension, Dimension), _payloads[slot]);
            }
        });
        _snapshotBytes = new FileInfo(path).Length;
        _generation = generation;
        if (_graph is not null)
        {
            DeleteGraphFiles(_dir, keep: generation);
        }
        _log!.SetLength(RecordFile.HeaderLength);
        _log.Seek(0, SeekOrigin.End);
        _log.Flush(flushToDisk: true);
        _logger.LogInformation("Collection {Name} compacted: {Count} vectors, {Bytes} bytes snapshot in {Elapsed:F0} ms",
            Name, count, _snapshotBytes, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        UseHugePages(); // the arenas the graph grew since it was loaded or built
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

/// <summary>How a collection's HNSW graph came to be.</summary>
internal enum GraphSource
{
    /// <summary>No graph (exact search mode).</summary>
    None,
    /// <summary>Created empty with the collection.</summary>
    Created,
    /// <summary>Loaded from the file saved with the snapshot.</summary>
    Loaded,
    /// <summary>Built from the vectors at open (no matching saved graph).</summary>
    Rebuilt,
}

/// <summary>A collection of the embedded index: points, dimension, whether searches go to the HNSW graph, and the
/// memory held by the graph (with its own vector copy) and by the float32 vectors.</summary>
/// <summary>A collection's size and memory: <paramref name="HugePageBytes"/> is how much of it was moved onto 2 MiB pages
/// (<see cref="HnswOptions.HugePages"/>).</summary>
public sealed record EmbeddedCollectionInfo(int Points, int Dimension, bool SearchesGraph, long GraphBytes, long VectorBytes, long HugePageBytes);
