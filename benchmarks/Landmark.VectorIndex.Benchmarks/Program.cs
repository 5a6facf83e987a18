using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Landmark.VectorIndex;

namespace Landmark.VectorIndex.Benchmarks;

/// <summary>
/// Entry point. <c>--compare [points...]</c> runs <see cref="IndexComparison"/> (HNSW vs exact vs hnswlib);
/// <c>--startup [points]</c> times opening a collection on disk (<see cref="StartupMeasurement"/>);
/// <c>--sweep [points] [ef...]</c> measures recall and queries/s per search ef on that collection and hnswlib's (<see cref="SearchSweep"/>);
/// <c>--quick [points] [dimension]</c> loads an embedded index with random unit vectors and reports search
/// latency with a Stopwatch (run it under <c>taskset -c 0</c> for a one-core figure); anything else goes to BenchmarkDotNet.
/// </summary>
public static class Program
{
    public static async Task Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--compare")
        {
            var sizes = args.Skip(1).Select(int.Parse).DefaultIfEmpty(100_000).ToList();
            await IndexComparison.RunAsync(sizes, Path.Combine("artifacts", "bench-index"));
            return;
        }
        if (args.Length > 0 && args[0] == "--startup")
        {
            await StartupMeasurement.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 1_000_000, Path.Combine("artifacts", "bench-index"));
            return;
        }
        if (args.Length > 0 && args[0] == "--sweep")
        {
            var points = args.Length > 1 ? int.Parse(args[1]) : 1_000_000;
            List<int> efs = args.Length > 2 ? [.. args.Skip(2).Select(int.Parse)] : [32, 48, 64, 96, 128];
            await SearchSweep.RunAsync(points, efs, Path.Combine("artifacts", "bench-index"));
            return;
        }
        if (args.Length > 0 && args[0] == "--quick")
        {
            var points = args.Length > 1 ? int.Parse(args[1]) : 100_000;
            var dimension = args.Length > 2 ? int.Parse(args[2]) : 512;
            await QuickMeasurement.RunAsync(points, dimension);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}

/// <summary>A loaded embedded index of random unit vectors in a temp directory.</summary>
public sealed class Gallery : IDisposable
{
    public const string Collection = "gallery";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "landmark-index-bench-" + Guid.NewGuid().ToString("N"));

    public Gallery(int points, int dimension, int seed = 1)
    {
        Dimension = dimension;
        Random = new Random(seed);
        // A large compaction threshold: the benchmark measures search, not snapshot writing.
        Index = new EmbeddedVectorIndex(new EmbeddedIndexOptions { Path = _dir, CompactionThresholdBytes = long.MaxValue / 4 });
        Index.EnsureCollectionAsync(Collection, dimension).GetAwaiter().GetResult();
        const int batch = 10_000;
        for (var start = 0; start < points; start += batch)
        {
            var slice = Enumerable.Range(start, Math.Min(batch, points - start))
                .Select(i => new VectorPoint($"img-{i}", RandomVector(), new Dictionary<string, string> { [PayloadKeys.Role] = i % 10 == 0 ? "non_landmark" : "landmark" }))
                .ToList();
            Index.UpsertAsync(Collection, slice).GetAwaiter().GetResult();
        }
    }

    public EmbeddedVectorIndex Index { get; }

    public int Dimension { get; }

    public Random Random { get; }

    public float[] RandomVector() => Enumerable.Range(0, Dimension).Select(_ => (float)(Random.NextDouble() * 2 - 1)).ToArray();

    public void Dispose()
    {
        Index.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>BenchmarkDotNet: top-10 search over 100k × 512 vectors.</summary>
[MemoryDiagnoser]
public class EmbeddedSearchBenchmarks
{
    private Gallery _gallery = null!;
    private List<float[]> _one = null!;
    private List<float[]> _batch = null!;

    [Params(100_000)]
    public int Points { get; set; }

    [Params(512)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _gallery = new Gallery(Points, Dimension);
        _one = [_gallery.RandomVector()];
        _batch = Enumerable.Range(0, 32).Select(_ => _gallery.RandomVector()).ToList();
    }

    [GlobalCleanup]
    public void Cleanup() => _gallery.Dispose();

    [Benchmark(Baseline = true, Description = "1 query, top-10")]
    public Task<IReadOnlyList<IReadOnlyList<SearchHit>>> OneQuery() => _gallery.Index.SearchAsync(Gallery.Collection, _one, 10);

    [Benchmark(Description = "1 query, top-10, payload filter")]
    public Task<IReadOnlyList<IReadOnlyList<SearchHit>>> OneQueryFiltered() =>
        _gallery.Index.SearchAsync(Gallery.Collection, _one, 10, PayloadFilter.Equal(PayloadKeys.Role, "landmark"));

    [Benchmark(Description = "32 queries, top-10")]
    public Task<IReadOnlyList<IReadOnlyList<SearchHit>>> BatchOf32() => _gallery.Index.SearchAsync(Gallery.Collection, _batch, 10);
}

/// <summary>Stopwatch measurement, for a quick figure without BenchmarkDotNet's full run.</summary>
public static class QuickMeasurement
{
    public static async Task RunAsync(int points, int dimension)
    {
        Console.WriteLine($"Embedded index, {points:N0} × {dimension} float32, {Environment.ProcessorCount} visible core(s)");
        var load = Stopwatch.StartNew();
        using var gallery = new Gallery(points, dimension);
        Console.WriteLine($"load (upserts with fsync'd log): {load.Elapsed.TotalSeconds:F1} s");
        var index = gallery.Index;
        var queries = Enumerable.Range(0, 64).Select(_ => gallery.RandomVector()).ToList();
        for (var i = 0; i < 5; i++)
        {
            await index.SearchAsync(Gallery.Collection, [queries[i]], 10);
        }

        Report("1 query, top-10", Measure(40, i => index.SearchAsync(Gallery.Collection, [queries[i % queries.Count]], 10)), perQuery: 1);
        var filter = PayloadFilter.Equal(PayloadKeys.Role, "landmark");
        Report("1 query, top-10, payload filter", Measure(20, i => index.SearchAsync(Gallery.Collection, [queries[i % queries.Count]], 10, filter)), perQuery: 1);
        Report("8 queries (one scan group), top-10", Measure(10, _ => index.SearchAsync(Gallery.Collection, queries.Take(8).ToList(), 10)), perQuery: 8);
        Report("64 queries, top-10", Measure(5, _ => index.SearchAsync(Gallery.Collection, queries, 10)), perQuery: 64);

        var compact = Stopwatch.StartNew();
        await index.CompactAsync(Gallery.Collection);
        Console.WriteLine($"compaction into a snapshot: {compact.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Wall-clock and process CPU milliseconds of each run, each list sorted. CPU time is the steadier figure
    /// on a shared machine: it leaves out the time other processes held the core.</summary>
    private static (List<double> Wall, List<double> Cpu) Measure(int runs, Func<int, Task> search)
    {
        var wall = new List<double>(runs);
        var cpu = new List<double>(runs);
        using var process = Process.GetCurrentProcess();
        for (var i = 0; i < runs; i++)
        {
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            search(i).GetAwaiter().GetResult();
            wall.Add(watch.Elapsed.TotalMilliseconds);
            process.Refresh();
            cpu.Add((process.TotalProcessorTime - cpuBefore).TotalMilliseconds);
        }
        wall.Sort();
        cpu.Sort();
        return (wall, cpu);
    }

    private static void Report(string name, (List<double> Wall, List<double> Cpu) times, int perQuery)
    {
        static double Median(List<double> values) => values[values.Count / 2];
        var p90 = times.Wall[(int)Math.Ceiling(times.Wall.Count * 0.9) - 1];
        Console.WriteLine($"{name,-36} wall median {Median(times.Wall),7:F2} ms (p90 {p90,7:F2})  CPU median {Median(times.Cpu),7:F2} ms"
            + $"  => {Median(times.Wall) / perQuery,6:F2} ms wall, {Median(times.Cpu) / perQuery,6:F2} ms CPU per query");
    }
}
