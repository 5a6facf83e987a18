using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Recognition;

namespace Landmark.Cli;

/// <summary>
/// End-to-end throughput of the platform on a dataset: import (upload → preprocess → embed → index) in images/second,
/// recognition latency of single requests (p50/p95) and streaming recognition throughput in images/second.
/// </summary>
public sealed class Benchmark(LandmarkConnection connection, TextWriter output)
{
    public async Task RunAsync(Dataset dataset, string split, int latencySamples, CancellationToken ct)
    {
        var import = await new DatasetImporter(connection, output).ImportAsync(dataset, includeNonLandmarks: true, ct);
        var (queries, _) = dataset.ReadSplit(split);
        var images = new List<ByteString>();
        foreach (var q in queries)
        {
            images.Add(ByteString.CopyFrom(await File.ReadAllBytesAsync(q.Path, ct)));
        }

        // Warm-up, then sequential latency.
        await connection.Recognition.RecognizeAsync(new RecognizeRequest { Image = images[0] }, cancellationToken: ct);
        var latencies = new List<double>();
        for (var i = 0; i < Math.Min(latencySamples, images.Count); i++)
        {
            var sw = Stopwatch.StartNew();
            await connection.Recognition.RecognizeAsync(new RecognizeRequest { Image = images[i] }, cancellationToken: ct);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
        }
        latencies.Sort();

        // Streaming throughput over the whole split.
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
        var streamSeconds = stopwatch.Elapsed.TotalSeconds;

        await output.WriteLineAsync($"cores: {Environment.ProcessorCount}; gallery: {import.Indexed} indexed images");
        if (import.Uploaded > 0)
        {
            await output.WriteLineAsync($"import: {import.Uploaded} images in {import.Seconds:F1}s = {import.ImagesPerSecond:F1} images/s (upload, validate, decode, resize, embed, index)");
        }
        else
        {
            await output.WriteLineAsync("import: gallery was already imported (use a fresh --data directory to measure import)");
        }
        await output.WriteLineAsync($"recognize (one at a time): p50 {Percentile(latencies, 0.5):F1} ms, p95 {Percentile(latencies, 0.95):F1} ms over {latencies.Count} requests");
        await output.WriteLineAsync($"recognize (stream): {answered} images in {streamSeconds:F1}s = {answered / streamSeconds:F1} images/s");
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
