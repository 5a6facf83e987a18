using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Datasets;
using Landmark.Recognition;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Landmark.Cli;

/// <summary>
/// End-to-end throughput of the platform on a dataset, each figure beside the bound its own parts set, measured in the
/// same run on the same cores:
/// <list type="bullet">
/// <item>import (upload → preprocess → embed → index) in images/s, beside 1 / (1/preprocess + 1/embed), each stage alone
/// on in-memory input (preprocess: the original photos into their variants; embed: the stored variant decoded into the
/// model's tensor, then the bare forward), measured just before and just after the import and averaged;</item>
/// <item>recognition queries/s and p50/p95/p99 at concurrency 1, 8 and 32 (unary calls) and through one stream, beside
/// the bare ONNX Runtime forward of the live model at batch 1 and at the batcher's size, and decode + batch-1 forward;</item>
/// <item>gallery re-embedding in images/s (a roll-out of a copy of the live model), beside the bare forward at the batcher's size.</item>
/// </list>
/// The reference figures need the embedded mode (the live model and the image pipeline in this process).
/// </summary>
public sealed class Benchmark(LandmarkConnection connection, TextWriter output)
{
    private static readonly int[] Concurrencies = [1, 8, 32];

    /// <summary>Calls timed at each concurrency above one (at least one per query image).</summary>
    private const int ConcurrentRequests = 200;

    /// <summary>How far a reference may move between its measurements just before and just after the work it is set
    /// against (the import's bound, re-embedding's bare forward; a fraction) before the ratio is flagged as unreliable:
    /// the two agreed within 4 % on a steady machine.</summary>
    private const double UnsettledBound = 0.10;

    public async Task RunAsync(Dataset dataset, string split, int latencySamples, CancellationToken ct, int floodSeconds = 0)
    {
        if (connection.EmbeddedServices is { } platform)
        {
            // Import throughput, not start-up: the live model loads in the background when the platform starts.
            var ready = Stopwatch.StartNew();
            var health = platform.GetRequiredService<HealthCheckService>();
            while ((await health.CheckHealthAsync(ct)).Status != HealthStatus.Healthy && ready.Elapsed < TimeSpan.FromMinutes(2))
            {
                await Task.Delay(200, ct);
            }
            await output.WriteLineAsync($"platform ready (every health check passing, the live model loaded) after {ready.Elapsed.TotalSeconds:F1} s");
        }
        var (queries, _) = dataset.ReadSplit(split);
        var images = new List<ByteString>();
        foreach (var q in queries)
        {
            images.Add(ByteString.CopyFrom(await File.ReadAllBytesAsync(q.Path, ct)));
        }
        // The import's bound is measured on both sides of the import and averaged: this machine's speed drifts by several
        // per cent within a minute, and one measurement on one side would carry that drift into the ratio. (Each
        // measurement reads the images it preprocesses itself: holding 140 MB through the import would change it.)
        Reference? beforeImport = null;
        if (connection.EmbeddedServices is { } starting)
        {
            await SettleAsync(ct);
            beforeImport = await Reference.MeasureAsync(starting, dataset, images, ct);
            await SettleAsync(ct);
        }
        // The CPU this process spent on the import: in the embedded mode the whole platform, so a slow import shows whether
        // the platform did more work per image or the machine ran slower.
        var cpuBeforeImport = ProcessCpuTime();
        var gcBefore = GcSnapshot.Take();
        var import = await new DatasetImporter(connection, output).ImportAsync(dataset, includeNonLandmarks: true, ct);
        var importCpu = ProcessCpuTime() - cpuBeforeImport;
        var importGc = GcSnapshot.Take() - gcBefore;
        var settled = await SettleAsync(ct);
        var reference = connection.EmbeddedServices is { } services ? await Reference.MeasureAsync(services, dataset, images, ct) : null;
        if (reference is not null)
        {
            // The reference's own garbage (every gallery image decoded twice, the tensors) is collected before the first
            // timed call rather than during it.
            settled += await SettleAsync(ct);
        }

        // Warm-up, then each concurrency level.
        for (var i = 0; i < Math.Min(8, images.Count); i++)
        {
            await connection.Recognition.RecognizeAsync(new RecognizeRequest { Image = images[i] }, cancellationToken: ct);
        }
        var levels = new List<(int Concurrency, Run Run)>();
        foreach (var concurrency in Concurrencies)
        {
            var requests = concurrency == 1 ? Math.Max(latencySamples, 1) : Math.Max(ConcurrentRequests, images.Count);
            levels.Add((concurrency, await RecognizeAtAsync(images, concurrency, requests, ct)));
        }
        var (answered, streamSeconds) = await StreamAsync(images, ct);

        await output.WriteLineAsync($"cores: {Environment.ProcessorCount}; gallery: {import.Indexed} indexed images; {images.Count} '{split}' queries"
            + (reference is null ? "" : $"; live model {reference.Model} ({reference.InputSize} px), batcher size {reference.BatchSize}"));
        await output.WriteLineAsync("(figures from a quiet machine only: other processes on the same cores lower every figure)");
        if (connection.IsEmbedded)
        {
            await output.WriteLineAsync($"(measurements started after the platform's own work from the import settled: {settled:F1} s)");
        }
        await output.WriteLineAsync();
        await output.WriteLineAsync("| what | platform | reference on the same cores | ratio |");
        await output.WriteLineAsync("|---|---|---|---|");
        if (import.Uploaded > 0)
        {
            // Both references exist together: in the embedded mode, before and after the import.
            var (bound, ratio) = ("n/a (remote server)", "");
            if (beforeImport is not null && reference is not null)
            {
                var mean = (beforeImport.ImportBound + reference.ImportBound) / 2;
                var strict = (beforeImport.ImportBoundBareForward + reference.ImportBoundBareForward) / 2;
                bound = $"{mean:F1} images/s, the mean of 1/(1/preprocess + 1/embed) just before the import ({Terms(beforeImport)}) "
                    + $"and just after it ({Terms(reference)}), embed = 1/(1/variant decode + 1/bare forward at batch {reference.BatchSize})";
                // A bound that moved by more than a tenth between its two measurements says the machine changed speed during
                // the run: the ratio is printed, but flagged, since the import ran at some speed in between.
                var moved = Drift(beforeImport.ImportBound, reference.ImportBound);
                ratio = $"{import.ImagesPerSecond / mean:F2}× (target ≥ 0.7"
                    + (moved > UnsettledBound ? $"; not a reliable figure: the bound moved {moved:P0} during the run, run again" : "")
                    + $"; {import.ImagesPerSecond / strict:F2}× of {strict:F1} images/s with the bare forward alone as the embed stage)";
            }
            var cpu = connection.IsEmbedded
                ? $" ({importCpu.TotalMilliseconds / import.Uploaded:F0} ms of CPU per image, the platform and the importer; {importGc.Describe(import.Uploaded)})"
                : "";
            await output.WriteLineAsync($"| import, {import.Uploaded} images end to end | {import.ImagesPerSecond:F1} images/s{cpu} | {bound} | {ratio} |");
        }
        else
        {
            await output.WriteLineAsync("| import | gallery was already imported (use a fresh --data directory) | | |");
        }
        if (reference is not null)
        {
            await output.WriteLineAsync($"| bare ONNX Runtime forward, batch 1 | | {reference.BareOnePerSecond:F1} images/s ({1000 / reference.BareOnePerSecond:F1} ms) | |");
            await output.WriteLineAsync($"| bare ONNX Runtime forward, batch {reference.BatchSize} | | {reference.BareBatchPerSecond:F1} images/s | |");
            await output.WriteLineAsync($"| query decode to {reference.InputSize} px (one thread) | | {reference.DecodeMs:F1} ms per query | |");
            await output.WriteLineAsync($"| stored {VariantSpec.EmbedName} variant decode to {reference.InputSize} px ({Environment.ProcessorCount} threads) | | {reference.VariantDecodePerSecond:F0} images/s | |");
        }
        var best = levels.Max(l => l.Run.PerSecond);
        foreach (var (concurrency, run) in levels)
        {
            var against = reference is null ? "" : concurrency == 1
                ? $"decode + batch-1 forward {reference.DecodeMs + 1000 / reference.BareOnePerSecond:F1} ms"
                : $"best bare forward {reference.BestBarePerSecond:F1} images/s";
            var ratio = reference is null ? "" : concurrency == 1
                ? $"p50 {run.P50 / (reference.DecodeMs + 1000 / reference.BareOnePerSecond):F2}× (target ≤ 1.3)"
                : $"{run.PerSecond / reference.BestBarePerSecond:F2}×";
            await output.WriteLineAsync($"| recognize, concurrency {concurrency}, {run.Requests} calls | {run.PerSecond:F1} queries/s; p50 {run.P50:F1} / p95 {run.P95:F1} / p99 {run.P99:F1} ms{(run.Failed > 0 ? $"; {run.Failed} failed" : "")} | {against} | {ratio} |");
        }
        await output.WriteLineAsync($"| recognize, one stream, {answered} images | {answered / streamSeconds:F1} queries/s | {(reference is null ? "" : $"best bare forward {reference.BestBarePerSecond:F1} images/s")} | {(reference is null ? "" : $"{answered / streamSeconds / reference.BestBarePerSecond:F2}×")} |");
        if (reference is not null)
        {
            var endToEnd = Math.Max(best, answered / streamSeconds);
            await output.WriteLineAsync();
            await output.WriteLineAsync($"recognition end to end at its best: {endToEnd:F1} queries/s = {endToEnd / reference.BestBarePerSecond:F2}× the bare forward at its best batch (target ≥ 0.6)");
        }
        if (reference is not null && connection.EmbeddedServices is { } embedded && import.Indexed > 0)
        {
            var reembed = await ReembedAsync(embedded, ct);
            await output.WriteLineAsync();
            await output.WriteLineAsync(reembed.Failure is not null
                ? $"re-embedding: not measured ({reembed.Failure})"
                : $"re-embedding: roll-out of {reembed.Version} (the live model's graph imported under a new version) re-embedded {reembed.Images} gallery images "
                  + $"in {reembed.Seconds:F1} s = {reembed.Images / reembed.Seconds:F1} images/s = {reembed.Images / reembed.Seconds / reembed.BarePerSecond:F2}× "
                  + $"that model's bare forward at batch {reference.BatchSize} ({reembed.BarePerSecond:F1} images/s, the mean of {reembed.BareBefore:F1} just before "
                  + $"the roll-out and {reembed.BareAfter:F1} just after it; target ≥ 0.7"
                  + (reembed.Moved > UnsettledBound ? $"; not a reliable figure: the bare forward moved {reembed.Moved:P0} during the run, run again" : "") + ")");
        }
        if (floodSeconds > 0)
        {
            await FloodAsync(images, 4 * best, floodSeconds, ct);
        }
    }

    private sealed record Reembedding(string Version, long Images, double Seconds, string? Failure, double BareBefore = 0, double BareAfter = 0)
    {
        /// <summary>The mean of the bare forward just before and just after the roll-out.</summary>
        public double BarePerSecond => (BareBefore + BareAfter) / 2;

        /// <summary>How far the bare forward moved between its two measurements (a fraction).</summary>
        public double Moved => Drift(BareBefore, BareAfter);
    }

    /// <summary>How far a reference moved between its two measurements, as a fraction of the lower one.</summary>
    private static double Drift(double a, double b) => Math.Max(a, b) / Math.Min(a, b) - 1;

    /// <summary>Waits (at most 30 s) until this process uses less than a tenth of a core: the platform's work after an
    /// import (index snapshot, catalog writes, the JIT's optimised recompiles, garbage collection) would otherwise land
    /// on the first measurements. Returns the seconds waited.</summary>
    private static async Task<double> SettleAsync(CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        GC.Collect();
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var before = ProcessCpuTime();
            await Task.Delay(500, ct);
            if ((ProcessCpuTime() - before).TotalSeconds < 0.05)
            {
                break;
            }
        }
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>The CPU this process has used so far (all its threads).</summary>
    private static TimeSpan ProcessCpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>The garbage collector's work so far in this process: what an import costs it per image.</summary>
    private readonly record struct GcSnapshot(long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Paused)
    {
        public static GcSnapshot Take() => new(GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());

        public static GcSnapshot operator -(GcSnapshot a, GcSnapshot b) =>
            new(a.Allocated - b.Allocated, a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Paused - b.Paused);

        public string Describe(int images) =>
            $"{Allocated / 1024.0 / images:F0} KB allocated per image, {Gen0}/{Gen1}/{Gen2} collections of generations 0/1/2 pausing {Paused.TotalMilliseconds:F0} ms";
    }

    /// <summary>
    /// Gallery re-embedding as a roll-out does it: the live model's own graph is imported under a new version (same
    /// cost per image), published, and timed from the publish call until it is live (every gallery image embedded from
    /// its stored variant, indexed into the new collection, the alias switched).
    /// </summary>
    private async Task<Reembedding> ReembedAsync(IServiceProvider services, CancellationToken ct)
    {
        var registry = services.GetRequiredService<ModelRegistry>();
        var live = await registry.GetLiveAsync(ct) ?? throw new InvalidOperationException("no live model");
        var (onnx, manifest) = await registry.LoadAsync(live.Version, ct);
        var header = new ImportModelHeader
        {
            Name = "bench-reembed-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture),
            InputSize = manifest.InputSize,
            Description = $"copy of {live.Version} for the re-embedding benchmark",
        };
        header.Mean.AddRange(manifest.Mean);
        header.Std.AddRange(manifest.Std);
        using var call = connection.Models.ImportModel(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new ImportModelRequest { Header = header }, ct);
        const int chunk = 1 << 20;
        for (var offset = 0; offset < onnx.Length; offset += chunk)
        {
            await call.RequestStream.WriteAsync(new ImportModelRequest { Chunk = ByteString.CopyFrom(onnx, offset, Math.Min(chunk, onnx.Length - offset)) }, ct);
        }
        await call.RequestStream.CompleteAsync();
        var imported = (await call.ResponseAsync).Model.Version;

        // The bare forward of the model that does the work (an imported graph need not run as fast as the original), just
        // before the roll-out and just after it, as the import's bound: one side alone carries the VM's drift.
        var (importedOnnx, importedManifest) = await registry.LoadAsync(imported, ct);
        var options = services.GetRequiredService<IOptions<EmbedderOptions>>().Value;
        double BareForward()
        {
            using var model = new OnnxEmbeddingModel(importedOnnx, importedManifest, options);
            return Reference.BestRate(model, options.MaxBatchSize, rounds: 3, batchesPerRound: 4);
        }
        var bareBefore = BareForward();
        await SettleAsync(ct);

        var watch = Stopwatch.StartNew();
        var status = await connection.Models.PublishModelAsync(new PublishModelRequest { Version = imported }, cancellationToken: ct);
        while (!(status.State == RolloutStatus.Types.State.Live && status.LiveVersion == imported))
        {
            if (status.State == RolloutStatus.Types.State.Failed || status.Version != imported)
            {
                return new Reembedding(imported, status.ImagesDone, watch.Elapsed.TotalSeconds, $"roll-out ended {status.State} at {status.ImagesDone}/{status.ImagesTotal}");
            }
            await Task.Delay(100, ct);
            status = await connection.Models.GetRolloutAsync(new GetRolloutRequest(), cancellationToken: ct);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        await SettleAsync(ct);
        return new Reembedding(imported, status.ImagesDone, seconds, null, bareBefore, BareForward());
    }

    /// <summary>
    /// Open-loop flood: Recognize calls started at <paramref name="rate"/> per second regardless of answers (as clients
    /// that do not back off), each with a 10-second deadline, for <paramref name="seconds"/>; then the sustainable rate is
    /// measured again. Prints offered, accepted, refused (RESOURCE_EXHAUSTED), timed out, p50/p99 of the accepted, the
    /// process's peak memory (embedded mode: the platform is this process) and the throughput after the flood.
    /// </summary>
    private async Task FloodAsync(List<ByteString> images, double rate, int seconds, CancellationToken ct)
    {
        var accepted = new List<double>();
        int refused = 0, timedOut = 0, failed = 0, offered = 0;
        var calls = new List<Task>();
        var watch = Stopwatch.StartNew();
        var interval = TimeSpan.FromSeconds(1 / rate);
        while (watch.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            var image = images[offered % images.Count];
            offered++;
            calls.Add(Task.Run(async () =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await connection.Recognition.RecognizeAsync(new RecognizeRequest { Image = image }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
                    lock (accepted)
                    {
                        accepted.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
                {
                    Interlocked.Increment(ref refused);
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Cancelled)
                {
                    Interlocked.Increment(ref timedOut);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref failed);
                }
            }, ct));
            var next = interval * offered - watch.Elapsed;
            if (next > TimeSpan.Zero)
            {
                await Task.Delay(next, ct);
            }
        }
        await Task.WhenAll(calls);
        var floodSeconds = watch.Elapsed.TotalSeconds;
        accepted.Sort();
        var after = await RecognizeAtAsync(images, 8, Math.Max(64, images.Count), ct);
        var peakMb = PeakResidentMegabytes();
        await output.WriteLineAsync();
        await output.WriteLineAsync($"flood: {offered} calls offered at {rate:F1}/s (4× the best measured rate) for {seconds} s; "
            + $"accepted {accepted.Count} ({accepted.Count / floodSeconds:F1}/s, p50 {Percentile(accepted, 0.5):F0} ms, p99 {Percentile(accepted, 0.99):F0} ms), "
            + $"refused RESOURCE_EXHAUSTED {refused}, past their 10 s deadline {timedOut}, other errors {failed}");
        await output.WriteLineAsync($"after the flood: {after.PerSecond:F1} queries/s at concurrency 8 (p99 {after.P99:F0} ms); peak resident memory of this process {peakMb:F0} MB"
            + (connection.IsEmbedded ? " (the platform runs in it)" : " (the client only: the server is remote)"));
    }

    private static double PeakResidentMegabytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return double.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }
        return 0;
    }

    private sealed record Run(int Requests, double PerSecond, double P50, double P95, double P99, int Failed);

    private async Task<Run> RecognizeAtAsync(List<ByteString> images, int concurrency, int requests, CancellationToken ct)
    {
        var latencies = new List<double>(requests);
        var next = -1;
        var failed = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await connection.Recognition.RecognizeAsync(new RecognizeRequest { Image = images[i % images.Count] }, cancellationToken: ct);
                    lock (latencies)
                    {
                        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.ResourceExhausted or StatusCode.InvalidArgument)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }, ct)));
        var seconds = watch.Elapsed.TotalSeconds;
        latencies.Sort();
        return new Run(requests, latencies.Count / seconds, Percentile(latencies, 0.5), Percentile(latencies, 0.95), Percentile(latencies, 0.99), failed);
    }

    private async Task<(int Answered, double Seconds)> StreamAsync(List<ByteString> images, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        using var call = connection.Recognition.RecognizeStream(cancellationToken: ct);
        var reader = Task.Run(async () =>
        {
            var n = 0;
            await foreach (var _ in call.ResponseStream.ReadAllAsync(ct))
            {
                n++;
            }
            return n;
        }, ct);
        foreach (var image in images)
        {
            await call.RequestStream.WriteAsync(new RecognizeRequest { Image = image }, ct);
        }
        await call.RequestStream.CompleteAsync();
        var answered = await reader;
        return (answered, stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>One measurement of the import's bound, written out: bound = 1/(1/preprocess + 1/embed), embed's own two terms.</summary>
    private static string Terms(Reference r) =>
        $"{r.ImportBound:F1} = 1/(1/{r.PreprocessPerSecond:F0} + 1/{r.EmbedStagePerSecond:F1}), {r.EmbedStagePerSecond:F1} = 1/(1/{r.VariantDecodePerSecond:F0} + 1/{r.BareBatchPerSecond:F1})";

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>What the parts alone do on this machine: the live model's bare forward, query decoding, preprocessing.</summary>
    private sealed record Reference(string Model, int InputSize, int BatchSize, double BareOnePerSecond, double BareBatchPerSecond, double DecodeMs,
        double PreprocessPerSecond, double VariantDecodePerSecond)
    {
        public double BestBarePerSecond => Math.Max(BareOnePerSecond, BareBatchPerSecond);

        /// <summary>The embed stage alone, as the preprocess stage is measured alone: its input (the stored variant, in
        /// memory) decoded into the model's tensor, then the bare forward at the batcher's size, on the same cores. With no
        /// variant to decode (every image refused) the bare forward alone.</summary>
        public double EmbedStagePerSecond => VariantDecodePerSecond > 0 ? 1 / (1 / VariantDecodePerSecond + 1 / BareBatchPerSecond) : BareBatchPerSecond;

        /// <summary>The import's bound: 1 / (1/preprocess + 1/embed), each stage alone on the same cores.</summary>
        public double ImportBound => 1 / (1 / PreprocessPerSecond + 1 / EmbedStagePerSecond);

        /// <summary>A stricter bound that counts the embedder's decode as overhead: the bare forward stands for the stage.</summary>
        public double ImportBoundBareForward => 1 / (1 / PreprocessPerSecond + 1 / BareBatchPerSecond);

        public static async Task<Reference> MeasureAsync(IServiceProvider services, Dataset dataset, List<ByteString> queries, CancellationToken ct)
        {
            var registry = services.GetRequiredService<ModelRegistry>();
            var options = services.GetRequiredService<IOptions<EmbedderOptions>>().Value;
            var imaging = services.GetRequiredService<ImagePipeline>();
            var live = await registry.GetLiveAsync(ct) ?? throw new InvalidOperationException("no live model");
            var (onnx, manifest) = await registry.LoadAsync(live.Version, ct);
            using var model = new OnnxEmbeddingModel(onnx, manifest, options);
            var size = model.InputSize;
            var batchSize = options.MaxBatchSize;

            // Decode the queries once (also the decode figure), then forward them at batch 1 and at the batcher's size.
            var tensors = new List<float[]>();
            var decodeMs = double.MaxValue;
            for (var round = 0; round < 2; round++)
            {
                tensors.Clear();
                var decode = Stopwatch.StartNew();
                foreach (var query in queries.Take(64))
                {
                    try
                    {
                        tensors.Add(imaging.ToTensor(query.Memory, size));
                    }
                    catch (ImageRejectedException)
                    {
                    }
                }
                decodeMs = Math.Min(decodeMs, decode.Elapsed.TotalMilliseconds / Math.Max(1, Math.Min(64, queries.Count)));
            }
            // Each rate is the best of three rounds: the fastest the model ran here, not a round another thread disturbed.
            var onePerSecond = BestRate(model, 1, rounds: 3, batchesPerRound: 24, tensors);
            var batchPerSecond = BestRate(model, batchSize, rounds: 3, batchesPerRound: 3, tensors);

            // Preprocessing alone (validate, decode, orient, resize into the stored variants) with the cores it gets in the
            // platform, on the images the import took (sizes differ widely: 96 large landmark photos ran at 113-185 images/s,
            // the whole mix at about 160), at most 1,000 of them evenly spread. Best of two passes, as the forward's rates.
            var imported = dataset.Train.Concat(dataset.NonLandmarks).ToList();
            var step = Math.Max(1, (imported.Count + 999) / 1000);
            var files = imported.Where((_, i) => i % step == 0).Select(i => File.ReadAllBytes(i.Path)).ToList();
            PrepareAll(imaging, files.Take(16).ToList(), null, ct); // warm-up
            var preprocessPerSecond = 0.0;
            var variants = new byte[]?[files.Count];
            for (var pass = 0; pass < 2; pass++)
            {
                var prepare = Stopwatch.StartNew();
                PrepareAll(imaging, files, variants, ct);
                preprocessPerSecond = Math.Max(preprocessPerSecond, files.Count / prepare.Elapsed.TotalSeconds);
            }

            // The embedder's own step before the forward: decoding the stored variant it was handed into the model's
            // tensor, with the same cores, on the variants preprocessing just made (the bytes the import stores). Best of two.
            var stored = variants.OfType<byte[]>().ToList();
            var variantDecodePerSecond = 0.0;
            for (var pass = 0; pass < 2 && stored.Count > 0; pass++)
            {
                var decode = Stopwatch.StartNew();
                Parallel.ForEach(stored, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
                    () => new float[3 * size * size], (bytes, _, tensor) =>
                    {
                        imaging.ToTensor(bytes, size, tensor);
                        return tensor;
                    }, _ => { });
                variantDecodePerSecond = Math.Max(variantDecodePerSecond, stored.Count / decode.Elapsed.TotalSeconds);
            }
            return new Reference(live.Version, size, batchSize, onePerSecond, batchPerSecond, decodeMs, preprocessPerSecond, variantDecodePerSecond);
        }

        /// <summary>Prepares every file on all cores; with <paramref name="variants"/>, keeps each one's embedding variant
        /// (the one the embedder decodes: <c>embed</c>, else the largest) at the file's index.</summary>
        private static void PrepareAll(ImagePipeline imaging, List<byte[]> files, byte[]?[]? variants, CancellationToken ct) =>
            Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct }, i =>
            {
                try
                {
                    var prepared = imaging.Prepare(files[i]);
                    if (variants is not null)
                    {
                        variants[i] = VariantSpec.ChooseEmbed(prepared.Variants, v => v.Name, v => (long)v.Width * v.Height)?.Bytes;
                    }
                }
                catch (ImageRejectedException)
                {
                }
            });

        /// <summary>Images/s of the bare forward at <paramref name="batchSize"/>: the best of <paramref name="rounds"/>
        /// rounds of <paramref name="batchesPerRound"/> runs each, after a warm-up run. Random images when none are given.</summary>
        public static double BestRate(OnnxEmbeddingModel model, int batchSize, int rounds, int batchesPerRound, IReadOnlyList<float[]>? tensors = null)
        {
            var stride = 3 * model.InputSize * model.InputSize;
            var batch = new float[batchSize * stride];
            var random = new Random(5);
            for (var i = 0; i < batchSize; i++)
            {
                if (tensors is { Count: > 0 })
                {
                    tensors[i % tensors.Count].CopyTo(batch, i * stride);
                }
                else
                {
                    for (var j = 0; j < stride; j++)
                    {
                        batch[(i * stride) + j] = (float)random.NextDouble();
                    }
                }
            }
            model.Embed(batch, batchSize); // warm-up
            var best = 0.0;
            for (var round = 0; round < rounds; round++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < batchesPerRound; i++)
                {
                    model.Embed(batch, batchSize);
                }
                best = Math.Max(best, batchesPerRound * batchSize / watch.Elapsed.TotalSeconds);
            }
            return best;
        }
    }
}
