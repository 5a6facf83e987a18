using Landmark.Testing;
using SkiaSharp;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Imaging.Tests;

public class PerceptualHashTests(ITestOutputHelper output)
{
    private static readonly ImagePipeline Pipeline = new(new ImagingOptions());

    private static byte[] Reencoded(byte[] original, double scale, int quality)
    {
        using var bitmap = SyntheticImages.DecodeBitmap(original);
        using var smaller = bitmap.Resize(new SKImageInfo(Math.Max(1, (int)(bitmap.Width * scale)), Math.Max(1, (int)(bitmap.Height * scale))), new SKSamplingOptions(SKFilterMode.Linear));
        return SyntheticImages.EncodeBitmap(smaller, SKEncodedImageFormat.Jpeg, quality);
    }

    [Fact]
    public void Real_photos_resized_and_recompressed_stay_near_while_different_photos_are_far_apart()
    {
        var root = TestPaths.RequireLandmarksMini();
        var files = Directory.EnumerateFiles(Path.Combine(root, "images", "train"), "*.jpg", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Take(24).ToList();
        var hashes = files.Select(f => PerceptualHash.Compute(Pipeline, File.ReadAllBytes(f))).ToList();
        var copies = files.Select(f => PerceptualHash.Compute(Pipeline, Reencoded(File.ReadAllBytes(f), 0.4, 60))).ToList();

        var copyDistances = hashes.Zip(copies, PerceptualHash.Distance).ToList();
        var otherDistances = new List<int>();
        for (var i = 0; i < hashes.Count; i++)
        {
            for (var j = i + 1; j < hashes.Count; j++)
            {
                otherDistances.Add(PerceptualHash.Distance(hashes[i], hashes[j]));
            }
        }
        otherDistances.Sort();
        output.WriteLine($"copies: max {copyDistances.Max()} bits; different photos: min {otherDistances[0]}, median {otherDistances[otherDistances.Count / 2]}");
        Assert.All(copyDistances, d => Assert.InRange(d, 0, 8));
        // 12 bits: the trainer's default near-duplicate distance (Landmark:Training:NearDuplicateDistance).
        Assert.True(otherDistances[0] > 12,
            $"two different photos only {otherDistances[0]} bits apart");
        Assert.InRange(otherDistances[otherDistances.Count / 2], 24, 40);
    }

    [Fact]
    public void The_same_pixels_give_the_same_hash_and_a_mirrored_image_a_different_one()
    {
        using var photo = SyntheticImages.Photo(320, 240);
        var png = SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Png);
        using var mirrored = new SKBitmap(photo.Info);
        using (var canvas = new SKCanvas(mirrored))
        {
            canvas.Scale(-1, 1, 160, 0);
            using var image = SKImage.FromBitmap(photo);
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
        }
        Assert.Equal(PerceptualHash.Compute(Pipeline, png), PerceptualHash.Compute(Pipeline, png));
        Assert.True(PerceptualHash.Distance(PerceptualHash.Compute(Pipeline, png),
            PerceptualHash.Compute(Pipeline, SyntheticImages.EncodeBitmap(mirrored, SKEncodedImageFormat.Png))) > 12);
        Assert.Throws<ArgumentException>(() => PerceptualHash.Compute(new float[3 * 16 * 16]));
    }
}
