using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Landmark.VectorIndex.Benchmarks;

/// <summary>
/// <c>--sweep [points] [ef...]</c>: the recall/speed trade-off of the collection <c>--compare</c> left on disk
/// (<c>artifacts/bench-index/index-N</c>, queries and ground truth beside it) next to hnswlib's index that run saved,
/// without building anything. For each search <c>ef</c> (default 32 48 64 96 128) three rounds of the 1,000 queries run
/// on one thread on each side, alternating: the collection opened with its graph on huge pages (the default), opened
/// again with it left on 4 KiB pages, and hnswlib at the same ef (a long-lived Python process), so a busy neighbour on
/// the VM slows all of them, not one. The table shows each side's median queries/s and recall@10.
/// </summary>
public static class SearchSweep
{
    private const int Rounds = 3;

    public static async Task RunAsync(int points, IReadOnlyList<int> efs, string workDir)
    {
        var prefix = Path.Combine(workDir, $"clustered-{points}");
        var dir = Path.Combine(workDir, $"index-{points}");
        if (!File.Exists(prefix + ".queries.f32") || !File.Exists(Path.Combine(dir, "bench", "collection.json")))
        {
            throw new InvalidOperationException($"No collection of {points:N0} points in {dir}: run `make bench-index POINTS={points}` first.");
        }
        var queries = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(prefix + ".queries.f32")).ToArray().Chunk(IndexComparison.Dimension).ToArray();
        var truth = MemoryMarshal.Cast<byte, int>(File.ReadAllBytes(prefix + ".truth.i32")).ToArray().Chunk(IndexComparison.K).ToArray();
        var defaults = new HnswOptions();
        Console.WriteLine($"Search sweep over {points:N0} clustered {IndexComparison.Dimension}-d points (M {defaults.M}, ef_construction {defaults.EfConstruction}): "
            + $"{queries.Length} queries, {Rounds} rounds per ef and side, alternating, one thread; embedded graph {defaults.Quantization} with "
            + $"{defaults.Oversampling}× candidates re-scored, hnswlib float32; median queries/s");
        using var peer = Peer.Start(prefix);
        var rows = new List<string>();
        foreach (var ef in efs)
        {
            var ours = new List<(double Qps, double Recall)>();
            var smallPages = new List<(double Qps, double Recall)>();
            var theirs = new List<(double Qps, double Recall)>();
            for (var round = 0; round < Rounds; round++)
            {
                ours.Add(await OpenAndRoundAsync(dir, ef, hugePages: true, queries, truth));
                smallPages.Add(await OpenAndRoundAsync(dir, ef, hugePages: false, queries, truth));
                if (peer?.Round(ef) is { } r)
                {
                    theirs.Add(r);
                }
            }
            var ourQps = IndexComparison.Median(ours.Select(r => r.Qps));
            var row = $"| {ef} | {ourQps:N0} | {ours[^1].Recall:F4} | {IndexComparison.Median(smallPages.Select(r => r.Qps)):N0} | ";
            if (theirs.Count == 0)
            {
                row += "n/a | n/a | n/a |";
            }
            else
            {
                var theirQps = IndexComparison.Median(theirs.Select(r => r.Qps));
                row += $"{theirQps:N0} | {theirs[^1].Recall:F4} | {ourQps / theirQps:F2}× |";
            }
            rows.Add(row);
            Console.WriteLine($"ef {ef}: rounds (queries/s) embedded {Join(ours)}; on 4 KiB pages {Join(smallPages)}; hnswlib {Join(theirs)}");
        }
        Console.WriteLine();
        Console.WriteLine("| ef | embedded QPS | embedded recall@10 | embedded on 4 KiB pages QPS | hnswlib QPS | hnswlib recall@10 | QPS ratio |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        rows.ForEach(Console.WriteLine);
    }

    private static string Join(List<(double Qps, double Recall)> rounds) => string.Join(" / ", rounds.Select(r => r.Qps.ToString("N0")));

    /// <summary>
    /// Opens the collection (its graph on huge pages or, with <paramref name="hugePages"/> false, left on 4 KiB pages),
    /// warms it with 50 queries and times one round. Each round opens anew, so one lucky or unlucky memory layout does
    /// not decide the figure.
    /// </summary>
    private static async Task<(double Qps, double Recall)> OpenAndRoundAsync(string dir, int ef, bool hugePages, float[][] queries, int[][] truth)
    {
        var options = new EmbeddedIndexOptions
        {
            Path = dir,
            Search = EmbeddedSearchMode.Hnsw,
            CompactionThresholdBytes = long.MaxValue / 4,
            Hnsw = new HnswOptions { EfSearch = ef, HugePages = hugePages },
        };
        using var index = new EmbeddedVectorIndex(options);
        await IndexComparison.WarmUpAsync(index, "bench", queries);
        // The collections opened before left gigabytes of arrays behind: collect them now, not during the timed round.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return await IndexComparison.TimedRoundAsync(index, "bench", queries, truth);
    }

    /// <summary>hnswlib on the index <c>--compare</c> saved (<c>prefix.hnswlib</c>), one timed round per request.</summary>
    private sealed class Peer : IDisposable
    {
        private readonly Process _process;

        private Peer(Process process) => _process = process;

        public static Peer? Start(string prefix)
        {
            if (!File.Exists(prefix + ".hnswlib"))
            {
                Console.WriteLine($"hnswlib: no saved index at {prefix}.hnswlib (make bench-index saves one); its columns stay empty");
                return null;
            }
            var script = Path.Combine(AppContext.BaseDirectory, "hnswlib_bench.py");
            var process = Process.Start(new ProcessStartInfo("/usr/bin/python3", [script, "--sweep", prefix])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
            })!;
            var ready = process.StandardOutput.ReadLine();
            if (ready != "ready")
            {
                process.Kill();
                process.Dispose();
                Console.WriteLine("hnswlib: the sweep process did not start (apt-get install -y python3-hnswlib?); its columns stay empty");
                return null;
            }
            return new Peer(process);
        }

        public (double Qps, double Recall) Round(int ef)
        {
            _process.StandardInput.WriteLine(ef);
            _process.StandardInput.Flush();
            var json = JsonDocument.Parse(_process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("hnswlib's sweep process ended")).RootElement;
            return (json.GetProperty("qps").GetDouble(), json.GetProperty("recall").GetDouble());
        }

        public void Dispose()
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000))
            {
                _process.Kill();
            }
            _process.Dispose();
        }
    }
}
