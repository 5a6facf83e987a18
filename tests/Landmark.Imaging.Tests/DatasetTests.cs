using System.Collections.Concurrent;
using System.Diagnostics;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Imaging.Tests;

/// <summary>Every real photo of the shared dataset (GLDv2 layout, some WebP and PNG files named .jpg) is accepted.</summary>
public class DatasetTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_photo_of_the_shared_dataset_is_accepted_including_webp_and_png_named_jpg()
    {
        var root = TestPaths.RequireLandmarksMini();
        var files = Directory.EnumerateFiles(Path.Combine(root, "images"), "*.jpg", SearchOption.AllDirectories).ToList();
        Assert.True(files.Count > 900, $"{files.Count} images under {root}");
        var pipeline = new ImagePipeline(new ImagingOptions());
        var maxSide = pipeline.Options.Variants.Max(v => v.MaxSide);
        var formats = new ConcurrentDictionary<ImageFormat, int>();
        var failures = new ConcurrentBag<string>();
        long prepareTicks = 0, tensorTicks = 0;
        var stopwatch = Stopwatch.StartNew();
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, file =>
        {
            try
            {
                var bytes = File.ReadAllBytes(file);
                var started = Stopwatch.GetTimestamp();
                var prepared = pipeline.Prepare(bytes);
                var prepareEnded = Stopwatch.GetTimestamp();
                var tensor = pipeline.ToTensor(bytes, 224);
                Interlocked.Add(ref prepareTicks, prepareEnded - started);
                Interlocked.Add(ref tensorTicks, Stopwatch.GetTimestamp() - prepareEnded);

                formats.AddOrUpdate(prepared.Header.Format, 1, (_, n) => n + 1);
                Assert.Equal(prepared.Header, pipeline.Inspect(bytes));
                foreach (var variant in prepared.Variants)
                {
                    Assert.True(Math.Max(variant.Width, variant.Height) <= maxSide);
                    Assert.True(variant.Width <= prepared.Header.OrientedWidth && variant.Height <= prepared.Header.OrientedHeight);
                    Assert.Equal(ImageFormat.Jpeg, FormatSniffer.Sniff(variant.Bytes));
                }
                Assert.Equal(3 * 224 * 224, tensor.Length);
                Assert.True(Array.TrueForAll(tensor, v => v is >= 0f and <= 1f), "tensor values outside [0, 1]");
            }
            catch (Exception ex)
            {
                failures.Add($"{Path.GetRelativePath(root, file)}: {ex.Message}");
            }
        });
        var ms = (long ticks) => ticks * 1000.0 / Stopwatch.Frequency / files.Count;
        output.WriteLine($"{files.Count} photos in {stopwatch.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} threads; " +
            $"mean Prepare {ms(prepareTicks):F1} ms, ToTensor(224) {ms(tensorTicks):F1} ms (per call, under parallel load); " +
            string.Join(", ", formats.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Empty(failures);
        Assert.True(formats.ContainsKey(ImageFormat.Webp), "the dataset has WebP files named .jpg");
        Assert.True(formats.ContainsKey(ImageFormat.Png), "the dataset has PNG files named .jpg");
    }
}
