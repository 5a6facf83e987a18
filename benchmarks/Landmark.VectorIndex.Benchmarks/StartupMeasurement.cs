using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Landmark.VectorIndex.Benchmarks;

/// <summary>
/// <c>--startup [points]</c>: how long the embedded index takes to open a collection of <c>points</c> clustered 512-d
/// vectors that is on disk as a running service leaves it (snapshot + saved HNSW graph). Reuses the collection
/// <c>--compare</c> built in <c>artifacts/bench-index/index-N</c> (builds it once when missing), then opens it three
/// times and prints each wall time with the collection's own log lines (snapshot replay, graph load).
/// </summary>
public static class StartupMeasurement
{
    public static async Task RunAsync(int points, string workDir)
    {
        var dir = Path.Combine(workDir, $"index-{points}");
        var options = new EmbeddedIndexOptions { Path = dir, Search = EmbeddedSearchMode.Hnsw, CompactionThresholdBytes = long.MaxValue / 4 };
        if (!File.Exists(Path.Combine(dir, "bench", "collection.json")))
        {
            Console.WriteLine($"No collection of {points:N0} points in {dir}: building it once (HNSW, as --compare does)");
            await IndexComparison.BuildAsync(points, workDir, dir, options);
        }
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        var logger = loggers.CreateLogger<EmbeddedVectorIndex>();
        var times = new List<double>();
        for (var run = 0; run < 3; run++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var watch = Stopwatch.StartNew();
            using var index = new EmbeddedVectorIndex(options, logger);
            times.Add(watch.Elapsed.TotalSeconds);
            var info = index.Describe("bench");
            Console.WriteLine($"open {run + 1}: {watch.Elapsed.TotalSeconds:F2} s, {info.Points:N0} points, graph {info.GraphBytes / 1e6:N0} MB "
                + $"({info.HugePageBytes >> 20:N0} MiB on huge pages), vectors {info.VectorBytes / 1e6:N0} MB, managed heap {GC.GetTotalMemory(false) / 1e6:N0} MB");
        }
        times.Sort();
        Console.WriteLine($"start-up with {points:N0} points: median {times[1]:F2} s (min {times[0]:F2}, max {times[2]:F2}); target ≤ 10 s at 1,000,000");
    }
}
