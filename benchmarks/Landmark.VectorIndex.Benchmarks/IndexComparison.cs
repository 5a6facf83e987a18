using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Landmark.VectorIndex.Benchmarks;

/// <summary>
/// <c>--compare [points...]</c>: the embedded index's HNSW graph, its exact scan and hnswlib (Debian's python3-hnswlib,
/// same M / ef_construction / ef) on the same clustered 512-d vectors, one table: build time, memory, queries/s of one
/// search thread, recall@10 against brute force, and the embedded index's start-up time with the collection on disk.
/// </summary>
public static class IndexComparison
{
    internal const int Dimension = 512;
    internal const int K = 10;
    private const int Queries = 1000;

    public static async Task RunAsync(IReadOnlyList<int> sizes, string workDir)
    {
        var hnsw = new HnswOptions();
        Directory.CreateDirectory(workDir);
        Console.WriteLine($"Index comparison: clustered {Dimension}-d vectors (points/100 centres, noise 0.6), {Queries} queries, recall@{K} vs brute force, one search thread");
        Console.WriteLine($"HNSW: M {hnsw.M}, ef_construction {hnsw.EfConstruction}, ef {hnsw.EfSearch} on both sides; embedded graph's vectors {hnsw.Quantization}, "
            + $"{hnsw.Oversampling}× candidates re-scored against float32; hnswlib float32; build with {Environment.ProcessorCount} threads; {Environment.ProcessorCount} cores, {RuntimeInformation.ProcessArchitecture}");
        Console.WriteLine("(measured on a quiet machine only: other processes on the same cores lower every figure)");
        var rows = new List<string[]>();
        foreach (var points in sizes)
        {
            var prefix = Path.Combine(workDir, $"clustered-{points}");
            var (data, queries, truth) = Generate(points, prefix);

            var ours = await MeasureEmbeddedAsync(data, queries, truth, Path.Combine(workDir, $"index-{points}"), hnsw, EmbeddedSearchMode.Hnsw);
            var exactQueries = queries.Take(points >= 500_000 ? 50 : 200).ToArray();
            var exact = await MeasureEmbeddedAsync(data, exactQueries, truth, Path.Combine(workDir, $"index-{points}"), hnsw, EmbeddedSearchMode.Exact, reuse: true);
            data = null!;
            GC.Collect();
            var peer = RunPeer(prefix, hnsw);

            rows.Add([$"{points:N0}", $"embedded HNSW (USearch, {hnsw.Quantization})", $"{ours.BuildSeconds:F1} s", $"{ours.MemoryMb:N0} MB", $"{ours.Qps:N0}", $"{ours.Recall:F4}", $"{ours.StartSeconds:F2} s",
                peer is null ? "n/a" : $"{ours.Qps / peer.Qps:F2}× hnswlib QPS"]);
            rows.Add([$"{points:N0}", "embedded exact scan", "-", $"{exact.MemoryMb:N0} MB", $"{exact.Qps:N0}", $"{exact.Recall:F4}", "-",
                $"{ours.Qps / exact.Qps:F0}× slower than HNSW"]);
            if (peer is not null)
            {
                rows.Add([$"{points:N0}", "hnswlib 0.6 (peer)", $"{peer.BuildSeconds:F1} s", $"{peer.MemoryMb:N0} MB", $"{peer.Qps:N0}", $"{peer.Recall:F4}", "-", "peer"]);
            }
            Print(rows);
        }
    }

    private static void Print(List<string[]> rows)
    {
        string[] header = ["points", "index", "build", "memory", "QPS (1 thread)", "recall@10", "start-up", "ratio"];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine();
        Console.WriteLine("| " + string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))) + " |");
        Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
        foreach (var row in rows)
        {
            Console.WriteLine("| " + string.Join(" | ", row.Select((c, i) => c.PadRight(widths[i]))) + " |");
        }
        Console.WriteLine();
    }

    private sealed record Figures(double BuildSeconds, double MemoryMb, double Qps, double Recall, double StartSeconds);

    private static async Task<Figures> MeasureEmbeddedAsync(float[][] data, float[][] queries, int[][] truth, string dir, HnswOptions hnsw,
        EmbeddedSearchMode mode, bool reuse = false)
    {
        const string collection = "bench";
        var options = new EmbeddedIndexOptions { Path = dir, Search = mode, Hnsw = hnsw, CompactionThresholdBytes = long.MaxValue / 4 };
        var build = reuse ? 0 : await BuildAsync(data, dir, options);
        GC.Collect();
        var started = Stopwatch.StartNew();
        using var index = new EmbeddedVectorIndex(options);
        var startSeconds = started.Elapsed.TotalSeconds;
        var info = index.Describe(collection);
        await WarmUpAsync(index, collection, queries);
        // Three rounds, the median (a single second-long round moves by ±20 % on a shared VM); hnswlib's script does the same.
        var rounds = new List<(double Qps, double Recall)>();
        for (var round = 0; round < 3; round++)
        {
            rounds.Add(await TimedRoundAsync(index, collection, queries, truth));
        }
        var memory = (info.GraphBytes + info.VectorBytes) / 1e6;
        return new Figures(build, memory, Median(rounds.Select(r => r.Qps)), rounds[^1].Recall, startSeconds);
    }

    /// <summary>50 untimed queries, so the timed rounds find the code compiled and the memory touched.</summary>
    internal static async Task WarmUpAsync(EmbeddedVectorIndex index, string collection, float[][] queries)
    {
        for (var i = 0; i < Math.Min(50, queries.Length); i++)
        {
            await index.SearchAsync(collection, [queries[i]], K);
        }
    }

    /// <summary>One timed pass of <paramref name="queries"/> through <paramref name="index"/> on this thread:
    /// queries/s and recall@10 against <paramref name="truth"/>.</summary>
    internal static async Task<(double Qps, double Recall)> TimedRoundAsync(EmbeddedVectorIndex index, string collection, float[][] queries, int[][] truth)
    {
        var found = 0;
        var timer = Stopwatch.StartNew();
        for (var q = 0; q < queries.Length; q++)
        {
            var hits = (await index.SearchAsync(collection, [queries[q]], K))[0];
            found += hits.Select(h => int.Parse(h.Id)).Intersect(truth[q]).Count();
        }
        return (queries.Length / timer.Elapsed.TotalSeconds, found / (double)(K * queries.Length));
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>Builds the collection <c>bench</c> of <paramref name="points"/> clustered vectors in <paramref name="dir"/>
    /// (for <c>--startup</c>, which needs one on disk); returns the build seconds.</summary>
    public static Task<double> BuildAsync(int points, string workDir, string dir, EmbeddedIndexOptions options)
    {
        Directory.CreateDirectory(workDir);
        var (data, _, _) = Generate(points, Path.Combine(workDir, $"clustered-{points}"));
        return BuildAsync(data, dir, options);
    }

    private static async Task<double> BuildAsync(float[][] data, string dir, EmbeddedIndexOptions options)
    {
        const string collection = "bench";
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
        using var building = new EmbeddedVectorIndex(options);
        await building.EnsureCollectionAsync(collection, Dimension);
        var watch = Stopwatch.StartNew();
        const int batch = 10_000;
        for (var start = 0; start < data.Length; start += batch)
        {
            var slice = Enumerable.Range(start, Math.Min(batch, data.Length - start))
                .Select(i => new VectorPoint(i.ToString(), data[i], new Dictionary<string, string> { [PayloadKeys.Role] = "landmark" }))
                .ToList();
            await building.UpsertAsync(collection, slice);
        }
        var build = watch.Elapsed.TotalSeconds;
        await building.CompactAsync(collection); // snapshot + graph on disk, as a running service leaves them
        return build;
    }

    private static Figures? RunPeer(string prefix, HnswOptions hnsw)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "hnswlib_bench.py");
        var start = new ProcessStartInfo("/usr/bin/python3", [script, prefix, hnsw.M.ToString(), hnsw.EfConstruction.ToString(), hnsw.EfSearch.ToString(), Environment.ProcessorCount.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"hnswlib peer failed (apt-get install -y python3-hnswlib?): {error.Trim().Split('\n').LastOrDefault()}");
                return null;
            }
            var json = JsonDocument.Parse(output.Trim().Split('\n').Last()).RootElement;
            return new Figures(json.GetProperty("build_seconds").GetDouble(), json.GetProperty("index_mb").GetDouble(),
                json.GetProperty("qps").GetDouble(), json.GetProperty("recall").GetDouble(), 0);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.WriteLine($"hnswlib peer not run: {e.Message}");
            return null;
        }
    }

    /// <summary>Clustered unit vectors, queries from the same distribution, and their true top-10 (parallel brute force);
    /// written to files for the peer.</summary>
    private static (float[][] Data, float[][] Queries, int[][] Truth) Generate(int points, string prefix)
    {
        var watch = Stopwatch.StartNew();
        var random = new Random(7);
        var clusters = Math.Max(10, points / 100);
        var centres = Enumerable.Range(0, clusters).Select(_ => Gaussian(random, 1f)).ToArray();
        float[] Next()
        {
            var centre = centres[random.Next(clusters)];
            var v = Gaussian(random, 0.6f);
            TensorPrimitives.Add(v, centre, v);
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            return v;
        }
        var data = new float[points][];
        for (var i = 0; i < points; i++)
        {
            data[i] = Next();
        }
        var queries = Enumerable.Range(0, Queries).Select(_ => Next()).ToArray();
        var truth = new int[Queries][];
        Parallel.For(0, Queries, q =>
        {
            var best = new PriorityQueue<int, float>();
            for (var i = 0; i < points; i++)
            {
                var score = TensorPrimitives.Dot(data[i], queries[q]);
                if (best.Count < K)
                {
                    best.Enqueue(i, score);
                }
                else if (best.TryPeek(out _, out var worst) && score > worst)
                {
                    best.DequeueEnqueue(i, score);
                }
            }
            truth[q] = best.UnorderedItems.Select(x => x.Element).ToArray();
        });
        using (var file = File.Create(prefix + ".data.f32"))
        {
            foreach (var v in data)
            {
                file.Write(MemoryMarshal.AsBytes(v.AsSpan()));
            }
        }
        using (var file = File.Create(prefix + ".queries.f32"))
        {
            foreach (var v in queries)
            {
                file.Write(MemoryMarshal.AsBytes(v.AsSpan()));
            }
        }
        File.WriteAllBytes(prefix + ".truth.i32", MemoryMarshal.AsBytes(truth.SelectMany(t => t).ToArray().AsSpan()).ToArray());
        File.WriteAllText(prefix + ".json", JsonSerializer.Serialize(new { points, dimension = Dimension, k = K }));
        Console.WriteLine($"{points:N0} vectors generated with their ground truth in {watch.Elapsed.TotalSeconds:F0} s");
        return (data, queries, truth);
    }

    private static float[] Gaussian(Random random, float sigma)
    {
        var v = new float[Dimension];
        for (var j = 0; j < Dimension; j++)
        {
            v[j] = sigma * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }
        return v;
    }
}
