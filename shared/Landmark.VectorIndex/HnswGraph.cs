using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cloud.Unum.USearch;

namespace Landmark.VectorIndex;

/// <summary>
/// An HNSW graph over the inner product of unit vectors (= cosine similarity), held by USearch (<c>Cloud.Unum.USearch</c>'s native library) and driven
/// through its C API, because the package's managed wrapper leaves out what an index server needs: capacity reserved
/// once for concurrent inserts, filtered search (a predicate evaluated while the graph is walked), thread limits and
/// search-time <c>ef</c>. Keys are the collection's stable point keys (not its slots, which move on delete).
/// <para>Thread safety (USearch's own contract): inserts and searches may run concurrently once capacity is reserved,
/// but each needs one of a fixed number of per-thread contexts; with none free USearch would index past its context
/// array, so this class admits at most <see cref="Contexts"/> native calls at once. <see cref="Reserve"/>,
/// <see cref="Remove"/>, <see cref="Save"/> and <see cref="Dispose"/> must run alone (the collection calls them under
/// its write lock).</para>
/// </summary>
internal sealed unsafe partial class HnswGraph : IDisposable
{
    private const string Library = "usearch_c";

    /// <summary>Per-thread contexts reserved in the native index; concurrent inserts and searches share them.</summary>
    private static readonly int Contexts = Math.Max(8, Environment.ProcessorCount * 4);

    /// <summary>The collection stores unit vectors, so cosine is the inner product: no norms per distance (the int8
    /// kernel runs in half the time of its cosine).</summary>
    private const MetricKind Metric = MetricKind.Ip;

    private readonly SemaphoreSlim _contexts = new(Contexts, Contexts);
    private IntPtr _index;

    /// <summary>The process's mappings before the graph last allocated (see <see cref="UseHugePages"/>); null when
    /// <see cref="HnswOptions.HugePages"/> is off.</summary>
    private MappingSnapshot? _mappedBefore;

    private HnswGraph(IntPtr index, int dimension, HnswQuantization quantization, MappingSnapshot? mappedBefore)
    {
        _index = index;
        _mappedBefore = mappedBefore;
        Dimension = dimension;
        ScaledInt8 = quantization == HnswQuantization.I8;
    }

    public int Dimension { get; }

    /// <summary>
    /// Whether this graph holds int8 vectors this class quantizes itself: every vector scaled by one factor
    /// (±6/sqrt(d) maps to ±127, larger components clip) and rounded. USearch's own float-to-int8 cast scales by 127 and
    /// truncates, which leaves a 512-d unit vector about a tenth of the int8 range and a bias towards zero; on 1 M
    /// clustered vectors that cost recall@10 (0.93 against float32's 0.957 at M 16 / ef 64; this encoding: 0.958).
    /// One factor for all keeps the inner product (a per-vector scale would need cosine, measured 0.74× hnswlib's QPS).
    /// Graphs saved by earlier versions hold the same metric and element type and keep working (at their precision).
    /// </summary>
    public bool ScaledInt8 { get; }

    /// <summary>Points in the graph (removed ones excluded).</summary>
    public long Count => (long)Call(static (IntPtr i, out IntPtr e) => usearch_size(i, out e));

    /// <summary>Points the graph has room for without reallocating.</summary>
    public long Capacity => (long)Call(static (IntPtr i, out IntPtr e) => usearch_capacity(i, out e));

    /// <summary>Bytes of memory the graph and its vectors use.</summary>
    public long MemoryBytes => (long)Call(static (IntPtr i, out IntPtr e) => usearch_memory_usage(i, out e));

    /// <summary>An empty graph for <paramref name="dimension"/>-dimensional vectors.</summary>
    public static HnswGraph Create(int dimension, HnswOptions options)
    {
        var mapped = options.HugePages ? TransparentHugePages.Snapshot() : null;
        var init = new InitOptions
        {
            MetricKind = Metric,
            Quantization = ToScalarKind(options.Quantization),
            Dimensions = (UIntPtr)(ulong)dimension,
            Connectivity = (UIntPtr)(ulong)options.M,
            ExpansionAdd = (UIntPtr)(ulong)options.EfConstruction,
            ExpansionSearch = (UIntPtr)(ulong)options.EfSearch,
        };
        var index = usearch_init(&init, out var error);
        Check(error, "create the HNSW graph");
        var graph = new HnswGraph(index, dimension, options.Quantization, mapped);
        graph.SetThreads();
        return graph;
    }

    /// <summary>Loads a graph written by <see cref="Save"/> into memory (it can then be searched and extended).</summary>
    public static HnswGraph Load(string path, int dimension, HnswOptions options)
    {
        var saved = default(InitOptions);
        usearch_metadata(path, &saved, out var error);
        Check(error, $"read the HNSW graph's header in '{Path.GetFileName(path)}'");
        var quantization = ToScalarKind(options.Quantization);
        if (saved.MetricKind != Metric || saved.Quantization != quantization)
        {
            // Saved under another Quantization setting: the collection rebuilds it in the configured one.
            throw new InvalidDataException($"The HNSW graph in '{Path.GetFileName(path)}' holds {saved.Quantization} vectors under the {saved.MetricKind} metric; "
                + $"this index is configured for {quantization} under {Metric}.");
        }
        var mapped = options.HugePages ? TransparentHugePages.Snapshot() : null;
        var init = default(InitOptions);
        var index = usearch_init(&init, out error);
        Check(error, "create the HNSW graph");
        var graph = new HnswGraph(index, dimension, options.Quantization, mapped);
        try
        {
            usearch_load(index, path, out error);
            Check(error, $"load the HNSW graph from '{Path.GetFileName(path)}'");
            var loaded = (int)(ulong)usearch_dimensions(index, out error);
            Check(error, "read the HNSW graph's dimension");
            if (loaded != dimension)
            {
                throw new InvalidDataException($"The HNSW graph in '{Path.GetFileName(path)}' holds {loaded}-dimensional vectors, not {dimension}.");
            }
            usearch_change_expansion_search(index, (UIntPtr)options.EfSearch, out error);
            Check(error, "set the HNSW search ef");
            graph.SetThreads();
            return graph;
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Makes room for <paramref name="capacity"/> points (call before inserting; not concurrently with anything).</summary>
    public void Reserve(long capacity)
    {
        usearch_reserve(_index, (UIntPtr)(ulong)capacity, out var error);
        Check(error, $"reserve room for {capacity} points in the HNSW graph");
        SetThreads(); // usearch_reserve resets the contexts to the number of cores
    }

    /// <summary>Inserts one unit vector under <paramref name="key"/> (the key must not be in the graph).</summary>
    public void Add(ulong key, ReadOnlySpan<float> vector)
    {
        _contexts.Wait();
        try
        {
            if (ScaledInt8)
            {
                Span<sbyte> quantized = stackalloc sbyte[vector.Length];
                Quantize(vector, quantized);
                fixed (sbyte* v = quantized)
                {
                    usearch_add(_index, key, v, ScalarKind.Int8, out var error);
                    Check(error, "insert into the HNSW graph");
                }
            }
            else
            {
                fixed (float* v = vector)
                {
                    usearch_add(_index, key, v, ScalarKind.Float32, out var error);
                    Check(error, "insert into the HNSW graph");
                }
            }
        }
        finally
        {
            _contexts.Release();
        }
    }

    /// <summary>Removes a key; absent keys are ignored.</summary>
    public void Remove(ulong key)
    {
        usearch_remove(_index, key, out var error);
        Check(error, "remove from the HNSW graph");
    }

    /// <summary>
    /// Up to <paramref name="count"/> nearest keys to <paramref name="query"/> (a unit vector), best first, written to
    /// <paramref name="keys"/>; returns how many were found. With <paramref name="accept"/>, only keys it accepts are
    /// returned, the predicate being evaluated during the graph walk (so selective filters still fill the result).
    /// </summary>
    public int Search(ReadOnlySpan<float> query, Span<ulong> keys, Func<ulong, bool>? accept = null)
    {
        var count = keys.Length;
        Span<float> distances = count <= 256 ? stackalloc float[count] : new float[count];
        _contexts.Wait();
        try
        {
            return SearchCore(query, keys, distances, accept);
        }
        finally
        {
            _contexts.Release();
        }
    }

    private int SearchCore(ReadOnlySpan<float> query, Span<ulong> keys, Span<float> distances, Func<ulong, bool>? accept)
    {
        var count = keys.Length;
        Span<sbyte> quantized = ScaledInt8 ? stackalloc sbyte[query.Length] : default;
        if (ScaledInt8)
        {
            Quantize(query, quantized);
        }
        var kind = ScaledInt8 ? ScalarKind.Int8 : ScalarKind.Float32;
        fixed (float* f = query)
        fixed (sbyte* i = quantized)
        fixed (ulong* k = keys)
        fixed (float* d = distances)
        {
            void* q = ScaledInt8 ? i : f;
            IntPtr error;
            UIntPtr found;
            if (accept is null)
            {
                found = usearch_search(_index, q, kind, (UIntPtr)count, k, d, out error);
            }
            else
            {
                var state = GCHandle.Alloc(accept);
                try
                {
                    found = usearch_filtered_search(_index, q, kind, (UIntPtr)count, &AcceptKey, GCHandle.ToIntPtr(state), k, d, out error);
                }
                finally
                {
                    state.Free();
                }
            }
            Check(error, "search the HNSW graph");
            return (int)(ulong)found;
        }
    }

    /// <summary>
    /// The int8 copy of <paramref name="vector"/> (a unit vector) the graph holds (<see cref="ScaledInt8"/>): scaled by
    /// 127·sqrt(d)/6 (127 for up to 36 dimensions), clipped to ±127, rounded to nearest.
    /// </summary>
    internal static void Quantize(ReadOnlySpan<float> vector, Span<sbyte> quantized)
    {
        // One scale for every vector (the graph's metric is the inner product, so a per-vector scale would bias it):
        // components of a d-dimensional unit vector are about 1/sqrt(d), and ±6/sqrt(d) maps to ±127.
        var scale = 127f / Math.Min(1f, 6f / MathF.Sqrt(vector.Length));
        for (var j = 0; j < vector.Length; j++)
        {
            quantized[j] = (sbyte)Math.Clamp(MathF.Round(vector[j] * scale), -127f, 127f);
        }
    }

    /// <summary>
    /// Moves the memory the graph allocated since it was created or last called this onto 2 MiB huge pages, where the
    /// kernel allows (<see cref="TransparentHugePages"/>). A 1 M-point graph walk misses the TLB on almost every vector it
    /// reads on 4 KiB pages. Other anonymous memory the process mapped meanwhile is included (it is only re-paged, never
    /// grown). Nothing is done when <see cref="HnswOptions.HugePages"/> is off. May run beside searches and inserts.
    /// </summary>
    public HugePageOutcome UseHugePages()
    {
        if (_mappedBefore is null)
        {
            return default;
        }
        var outcome = TransparentHugePages.CollapseMappedSince(_mappedBefore, out var now);
        _mappedBefore = now;
        return outcome;
    }

    /// <summary>Writes the graph to <paramref name="path"/> and flushes it to disk.</summary>
    public void Save(string path)
    {
        usearch_save(_index, path, out var error);
        Check(error, $"save the HNSW graph to '{Path.GetFileName(path)}'");
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        file.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        var index = Interlocked.Exchange(ref _index, IntPtr.Zero);
        if (index != IntPtr.Zero)
        {
            usearch_free(index, out _);
            _contexts.Dispose();
        }
    }

    /// <summary>The native library's version and the SIMD kernels it picked on this CPU, for start-up logs.</summary>
    public static string Describe() =>
        $"USearch {Marshal.PtrToStringAnsi(usearch_version())} ({Marshal.PtrToStringAnsi(usearch_hardware_acceleration_available())})";

    private void SetThreads()
    {
        var threads = (UIntPtr)(ulong)Contexts;
        usearch_change_threads_add(_index, threads, out var error);
        Check(error, "set the HNSW insert contexts");
        usearch_change_threads_search(_index, threads, out error);
        Check(error, "set the HNSW search contexts");
    }

    /// <summary><c>usearch_init_options_t</c> (blittable; the package's <c>IndexOptions</c> has a managed <c>bool</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct InitOptions
    {
        public MetricKind MetricKind;
        public IntPtr Metric;
        public ScalarKind Quantization;
        public UIntPtr Dimensions;
        public UIntPtr Connectivity;
        public UIntPtr ExpansionAdd;
        public UIntPtr ExpansionSearch;
        public byte Multi;
    }

    private delegate UIntPtr Getter(IntPtr index, out IntPtr error);

    private UIntPtr Call(Getter getter)
    {
        var value = getter(_index, out var error);
        Check(error, "read the HNSW graph's state");
        return value;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int AcceptKey(ulong key, IntPtr state)
    {
        try
        {
            return ((Func<ulong, bool>)GCHandle.FromIntPtr(state).Target!)(key) ? 1 : 0;
        }
        catch
        {
            return 0; // an exception must not unwind through native frames
        }
    }

    private static ScalarKind ToScalarKind(HnswQuantization quantization) => quantization switch
    {
        HnswQuantization.F32 => ScalarKind.Float32,
        HnswQuantization.BF16 => ScalarKind.BFloat16,
        HnswQuantization.F16 => ScalarKind.Float16,
        HnswQuantization.I8 => ScalarKind.Int8,
        _ => throw new ArgumentOutOfRangeException(nameof(quantization), quantization, null),
    };

    private static void Check(IntPtr error, string what)
    {
        if (error != IntPtr.Zero)
        {
            throw new InvalidOperationException($"Could not {what}: {Marshal.PtrToStringAnsi(error)}.");
        }
    }

    [LibraryImport(Library)]
    private static partial IntPtr usearch_version();

    [LibraryImport(Library)]
    private static partial IntPtr usearch_hardware_acceleration_available();

    [LibraryImport(Library)]
    private static partial IntPtr usearch_init(InitOptions* options, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_free(IntPtr index, out IntPtr error);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial void usearch_save(IntPtr index, string path, out IntPtr error);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial void usearch_metadata(string path, InitOptions* options, out IntPtr error);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial void usearch_load(IntPtr index, string path, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_size(IntPtr index, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_capacity(IntPtr index, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_dimensions(IntPtr index, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_memory_usage(IntPtr index, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_reserve(IntPtr index, UIntPtr capacity, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_change_expansion_search(IntPtr index, UIntPtr expansion, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_change_threads_add(IntPtr index, UIntPtr threads, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_change_threads_search(IntPtr index, UIntPtr threads, out IntPtr error);

    [LibraryImport(Library)]
    private static partial void usearch_add(IntPtr index, ulong key, void* vector, ScalarKind kind, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_remove(IntPtr index, ulong key, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_search(IntPtr index, void* query, ScalarKind kind, UIntPtr count, ulong* keys, float* distances, out IntPtr error);

    [LibraryImport(Library)]
    private static partial UIntPtr usearch_filtered_search(IntPtr index, void* query, ScalarKind kind, UIntPtr count,
        delegate* unmanaged[Cdecl]<ulong, IntPtr, int> filter, IntPtr filterState, ulong* keys, float* distances, out IntPtr error);
}
