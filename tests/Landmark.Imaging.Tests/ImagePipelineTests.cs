using System.Collections.Concurrent;
using System.Diagnostics;
using Landmark.Testing;
using SkiaSharp;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Imaging.Tests;

public class ImagePipelineTests(ITestOutputHelper output)
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    private static ImageRejectedException Rejected(Action action) => Assert.Throws<ImageRejectedException>(action);

    [Fact]
    public void Empty_file_is_rejected_with_code_empty() =>
        Assert.Equal(RejectionCodes.Empty, Rejected(() => _pipeline.Inspect([])).Code);

    [Fact]
    public void Text_file_named_jpg_is_rejected_as_unsupported_format()
    {
        var error = Rejected(() => _pipeline.Prepare("hello, I am not a photo"u8.ToArray()));
        Assert.Equal(RejectionCodes.UnsupportedFormat, error.Code);
        Assert.StartsWith("unsupported_format: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_by_one_image_is_rejected_as_too_small() =>
        Assert.Equal(RejectionCodes.TooSmall, Rejected(() => _pipeline.Inspect(SyntheticImages.Encode(1, 1, SKEncodedImageFormat.Png, SKColors.Red))).Code);

    [Fact]
    public void Header_declaring_30000_by_30000_is_rejected_as_too_large_before_decoding()
    {
        var bomb = SyntheticImages.PngHeaderDeclaring(30000, 30000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Rejected(() => _pipeline.Prepare(bomb));
        Assert.Equal(RejectionCodes.TooLarge, error.Code);
        Assert.Contains("30000×30000", error.Reason, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000, "pixels must not be allocated");
    }

    [Fact]
    public void Too_many_bytes_is_rejected_before_parsing()
    {
        var pipeline = new ImagePipeline(new ImagingOptions { MaxBytes = 100 });
        Assert.Equal(RejectionCodes.TooManyBytes, Rejected(() => pipeline.Inspect(SyntheticImages.Encode(64, 64, SKEncodedImageFormat.Png, SKColors.Red))).Code);
    }

    [Fact]
    public void Truncated_jpeg_is_rejected_as_truncated()
    {
        var jpeg = SyntheticImages.Encode(400, 300, SKEncodedImageFormat.Jpeg, SKColors.SkyBlue, SKColors.Red);
        var half = jpeg[..(jpeg.Length / 2)];
        Assert.Equal(RejectionCodes.Truncated, Rejected(() => _pipeline.Prepare(half)).Code);
        Assert.Equal(RejectionCodes.Truncated, Rejected(() => _pipeline.ToTensor(half, 64)).Code);
    }

    [Fact]
    public void Garbage_after_a_valid_magic_is_rejected_as_corrupt()
    {
        var bytes = new byte[4096];
        new Random(1).NextBytes(bytes);
        bytes[0] = 0x89; bytes[1] = 0x50; bytes[2] = 0x4E; bytes[3] = 0x47; bytes[4] = 0x0D; bytes[5] = 0x0A; bytes[6] = 0x1A; bytes[7] = 0x0A;
        var code = Rejected(() => _pipeline.Prepare(bytes)).Code;
        Assert.True(code is RejectionCodes.Corrupt or RejectionCodes.Truncated, code);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg, ImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Png, ImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp, ImageFormat.Webp)]
    public void Format_is_sniffed_from_the_bytes(SKEncodedImageFormat encoded, ImageFormat expected)
    {
        var header = _pipeline.Inspect(SyntheticImages.Encode(120, 80, encoded, SKColors.Green));
        Assert.Equal(expected, header.Format);
        Assert.Equal((120, 80), (header.Width, header.Height));
    }

    [Fact]
    public void Variants_keep_aspect_ratio_and_never_upscale()
    {
        var big = _pipeline.Prepare(SyntheticImages.Encode(2000, 1000, SKEncodedImageFormat.Jpeg, SKColors.Gray));
        var embed = big.Variants.Single(v => v.Name == "embed");
        Assert.Equal((512, 256), (embed.Width, embed.Height));
        var thumb = big.Variants.Single(v => v.Name == "thumb");
        Assert.Equal((160, 80), (thumb.Width, thumb.Height));
        Assert.Equal(ImageFormat.Jpeg, FormatSniffer.Sniff(embed.Bytes));

        var small = _pipeline.Prepare(SyntheticImages.Encode(100, 60, SKEncodedImageFormat.Png, SKColors.Gray));
        Assert.All(small.Variants, v => Assert.Equal((100, 60), (v.Width, v.Height)));
    }

    [Fact]
    public void Exif_orientation_6_rotates_the_variant_clockwise()
    {
        // Stored 400×200 with a red block top-left; orientation 6 means "rotate 90° clockwise to display".
        var jpeg = SyntheticImages.WithExifOrientation(SyntheticImages.Encode(400, 200, SKEncodedImageFormat.Jpeg, SKColors.White, SKColors.Red), 6);
        Assert.Equal(6, _pipeline.Inspect(jpeg).Orientation);
        var prepared = _pipeline.Prepare(jpeg);
        Assert.Equal((200, 400), (prepared.Header.OrientedWidth, prepared.Header.OrientedHeight));
        var embed = prepared.Variants.Single(v => v.Name == "embed");
        Assert.Equal((200, 400), (embed.Width, embed.Height));
        using var bitmap = SKBitmap.Decode(embed.Bytes);
        // After a clockwise turn the top-left block sits at the top-right.
        AssertReddish(bitmap.GetPixel(embed.Width - 10, 10));
        AssertWhitish(bitmap.GetPixel(10, 10));
    }

    [Fact]
    public void Exif_orientation_3_turns_the_image_upside_down()
    {
        var jpeg = SyntheticImages.WithExifOrientation(SyntheticImages.Encode(300, 200, SKEncodedImageFormat.Jpeg, SKColors.White, SKColors.Red), 3);
        var embed = _pipeline.Prepare(jpeg).Variants.Single(v => v.Name == "embed");
        using var bitmap = SKBitmap.Decode(embed.Bytes);
        AssertReddish(bitmap.GetPixel(embed.Width - 10, embed.Height - 10));
        AssertWhitish(bitmap.GetPixel(10, 10));
    }

    [Fact]
    public void Tensor_is_rgb_chw_in_unit_range()
    {
        var tensor = _pipeline.ToTensor(SyntheticImages.Encode(64, 48, SKEncodedImageFormat.Png, SKColors.Red), 32);
        Assert.Equal(3 * 32 * 32, tensor.Length);
        Assert.All(tensor, v => Assert.InRange(v, 0f, 1f));
        Assert.True(tensor[..1024].Average() > 0.95);
        Assert.True(tensor[1024..2048].Average() < 0.05);
        Assert.True(tensor[2048..].Average() < 0.05);
    }

    [Fact]
    public void Transparent_pixels_are_flattened_onto_white()
    {
        var tensor = _pipeline.ToTensor(SyntheticImages.Encode(32, 32, SKEncodedImageFormat.Png, SKColors.Black, alpha: 0), 16);
        Assert.True(tensor.Average() > 0.95);
    }

    [Fact]
    public void Concurrent_preparation_gives_the_same_bytes_as_sequential()
    {
        var jpeg = SyntheticImages.Encode(900, 700, SKEncodedImageFormat.Jpeg, SKColors.Teal, SKColors.Orange);
        var expected = _pipeline.Prepare(jpeg).Variants[0].Bytes;
        var results = new ConcurrentBag<byte[]>();
        Parallel.For(0, 16, _ => results.Add(_pipeline.Prepare(jpeg).Variants[0].Bytes));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void Every_photo_of_the_shared_dataset_is_accepted_including_webp_and_png_named_jpg()
    {
        var root = TestPaths.RequireLandmarksMini();
        var files = Directory.EnumerateFiles(Path.Combine(root, "images"), "*.jpg", SearchOption.AllDirectories).ToList();
        Assert.True(files.Count > 900);
        var formats = new ConcurrentDictionary<ImageFormat, int>();
        var failures = new ConcurrentBag<string>();
        long prepareTicks = 0;
        var stopwatch = Stopwatch.StartNew();
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, file =>
        {
            try
            {
                var bytes = File.ReadAllBytes(file);
                var started = Stopwatch.GetTimestamp();
                var prepared = _pipeline.Prepare(bytes);
                Interlocked.Add(ref prepareTicks, Stopwatch.GetTimestamp() - started);
                formats.AddOrUpdate(prepared.Header.Format, 1, (_, n) => n + 1);
                Assert.True(prepared.Variants.All(v => Math.Max(v.Width, v.Height) <= 512));
            }
            catch (Exception ex)
            {
                failures.Add($"{file}: {ex.Message}");
            }
        });
        output.WriteLine($"{files.Count} photos in {stopwatch.Elapsed.TotalSeconds:F1}s; mean Prepare {TimeSpan.FromTicks(prepareTicks * TimeSpan.TicksPerSecond / Stopwatch.Frequency).TotalMilliseconds / files.Count:F1} ms; " +
            string.Join(", ", formats.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Empty(failures);
        Assert.True(formats.ContainsKey(ImageFormat.Webp), "the dataset has WebP files named .jpg");
        Assert.True(formats.ContainsKey(ImageFormat.Png), "the dataset has PNG files named .jpg");
    }

    private static void AssertReddish(SKColor c) => Assert.True(c.Red > 180 && c.Green < 90 && c.Blue < 90, $"expected red, got {c}");

    private static void AssertWhitish(SKColor c) => Assert.True(c.Red > 200 && c.Green > 200 && c.Blue > 200, $"expected white, got {c}");
}
