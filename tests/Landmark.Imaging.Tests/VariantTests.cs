using System.Collections.Concurrent;
using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

public class VariantTests
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    [Theory]
    [InlineData(2000, 1000, 512, 256, 160, 80)]
    [InlineData(1000, 2000, 256, 512, 80, 160)]
    [InlineData(5184, 3456, 512, 341, 160, 107)]
    [InlineData(3000, 100, 512, 17, 160, 5)]
    [InlineData(513, 513, 512, 512, 160, 160)]
    public void Variants_fit_the_longest_side_and_keep_the_aspect_ratio(int w, int h, int embedW, int embedH, int thumbW, int thumbH)
    {
        var prepared = _pipeline.Prepare(SyntheticImages.Encode(w, h, SKEncodedImageFormat.Jpeg, SKColors.Gray, SKColors.Red));
        Assert.Equal(["embed", "thumb"], prepared.Variants.Select(v => v.Name));
        var embed = prepared.Variants[0];
        var thumb = prepared.Variants[1];
        Assert.Equal((embedW, embedH), (embed.Width, embed.Height));
        Assert.Equal((thumbW, thumbH), (thumb.Width, thumb.Height));
        foreach (var variant in prepared.Variants)
        {
            Assert.Equal("image/jpeg", variant.ContentType);
            Assert.Equal(ImageFormat.Jpeg, FormatSniffer.Sniff(variant.Bytes));
            using var decoded = SyntheticImages.DecodeBitmap(variant.Bytes);
            Assert.Equal((variant.Width, variant.Height), (decoded.Width, decoded.Height));
            if (variant.Height < 40)
            {
                continue; // the red block is a few pixels tall and blends with its surroundings
            }
            // The red block (top-left quarter) survives the resize.
            OrientationTests.AssertColor(SKColors.Red, decoded.GetPixel(decoded.Width / 16, decoded.Height / 16 / 2), variant.Name);
            OrientationTests.AssertColor(SKColors.Gray, decoded.GetPixel(decoded.Width * 3 / 4, decoded.Height * 3 / 4), variant.Name);
        }
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void Small_images_are_never_upscaled(SKEncodedImageFormat format)
    {
        var small = _pipeline.Prepare(SyntheticImages.Encode(100, 60, format, SKColors.Gray));
        Assert.All(small.Variants, v => Assert.Equal((100, 60), (v.Width, v.Height)));
        var medium = _pipeline.Prepare(SyntheticImages.Encode(300, 200, format, SKColors.Gray));
        Assert.Equal((300, 200), (medium.Variants[0].Width, medium.Variants[0].Height));
        Assert.Equal((160, 107), (medium.Variants[1].Width, medium.Variants[1].Height));
    }

    [Fact]
    public void An_image_that_needs_no_resize_is_copied_exactly_up_to_jpeg_loss()
    {
        using var photo = SyntheticImages.Photo(200, 150);
        var png = SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Png);
        var pipeline = new ImagePipeline(new ImagingOptions { Variants = [new VariantSpec("full", 512, 100)] });
        using var variant = SyntheticImages.DecodeBitmap(pipeline.Prepare(png).Variants[0].Bytes);
        Assert.True(MeanAbsoluteDifference(photo, variant) < 2.5);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void Transparent_pixels_are_composited_over_white(SKEncodedImageFormat format)
    {
        var transparent = SyntheticImages.Encode(64, 64, format, SKColors.Black, topLeft: SKColors.Red, alpha: 0);
        Assert.Equal(format == SKEncodedImageFormat.Png ? ImageFormat.Png : ImageFormat.Webp, FormatSniffer.Sniff(transparent));
        var embed = _pipeline.Prepare(transparent).Variants[0];
        using var bitmap = SyntheticImages.DecodeBitmap(embed.Bytes);
        OrientationTests.AssertColor(SKColors.White, bitmap.GetPixel(48, 48), "transparent area");
        OrientationTests.AssertColor(SKColors.Red, bitmap.GetPixel(4, 4), "opaque red block");
        Assert.True(_pipeline.ToTensor(transparent, 16).Skip(8).Take(4).All(v => v > 0.95f));

        var halfBlack = SyntheticImages.Encode(64, 64, format, SKColors.Black, alpha: 128);
        using var grey = SyntheticImages.DecodeBitmap(_pipeline.Prepare(halfBlack).Variants[0].Bytes);
        Assert.InRange((int)grey.GetPixel(32, 32).Red, 110, 145);
    }

    [Fact]
    public void Large_photo_is_reduced_with_little_error_against_a_full_decode()
    {
        using var photo = SyntheticImages.Photo(2400, 1600);
        var jpeg = SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Jpeg, 95);
        var embed = _pipeline.Prepare(jpeg).Variants[0];
        Assert.Equal((512, 341), (embed.Width, embed.Height));
        using var reference = new SKBitmap(new SKImageInfo(512, 341, SKColorType.Rgba8888, SKAlphaType.Opaque));
        photo.ScalePixels(reference, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        using var ours = SyntheticImages.DecodeBitmap(embed.Bytes);
        Assert.True(MeanAbsoluteDifference(reference, ours) < 6, $"{MeanAbsoluteDifference(reference, ours):F2}");
    }

    [Fact]
    public void Variants_come_back_in_configured_order_with_their_own_quality()
    {
        var pipeline = new ImagePipeline(new ImagingOptions
        {
            Variants = [new VariantSpec("tiny", 32, 50), new VariantSpec("big", 300, 95), new VariantSpec("mid", 100, 80)],
        });
        using var photo = SyntheticImages.Photo(600, 400);
        var prepared = pipeline.Prepare(SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Png));
        Assert.Equal(["tiny", "big", "mid"], prepared.Variants.Select(v => v.Name));
        Assert.Equal([(32, 21), (300, 200), (100, 67)], prepared.Variants.Select(v => (v.Width, v.Height)));
    }

    [Fact]
    public void Concurrent_preparation_gives_the_same_bytes_as_sequential()
    {
        var inputs = new[]
        {
            SyntheticImages.Encode(900, 700, SKEncodedImageFormat.Jpeg, SKColors.Teal, SKColors.Orange),
            SyntheticImages.Encode(700, 900, SKEncodedImageFormat.Png, SKColors.Teal, SKColors.Orange),
            SyntheticImages.Encode(640, 480, SKEncodedImageFormat.Webp, SKColors.Teal, SKColors.Orange),
            SyntheticImages.WithExifOrientation(SyntheticImages.Encode(800, 600, SKEncodedImageFormat.Jpeg, SKColors.Teal, SKColors.Orange), 6),
        };
        var expected = inputs.Select(i => _pipeline.Prepare(i).Variants.Select(v => v.Bytes).ToArray()).ToArray();
        var expectedTensors = inputs.Select(i => _pipeline.ToTensor(i, 64)).ToArray();
        var mismatches = new ConcurrentBag<string>();
        Parallel.For(0, 48, new ParallelOptions { MaxDegreeOfParallelism = 4 }, n =>
        {
            var i = n % inputs.Length;
            var variants = _pipeline.Prepare(inputs[i]).Variants;
            if (!variants.Select(v => v.Bytes).Zip(expected[i]).All(p => p.First.AsSpan().SequenceEqual(p.Second)))
            {
                mismatches.Add($"Prepare input {i}");
            }
            if (!_pipeline.ToTensor(inputs[i], 64).AsSpan().SequenceEqual(expectedTensors[i]))
            {
                mismatches.Add($"ToTensor input {i}");
            }
        });
        Assert.Empty(mismatches);
    }

    internal static double MeanAbsoluteDifference(SKBitmap a, SKBitmap b)
    {
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        double sum = 0;
        for (var y = 0; y < a.Height; y++)
        {
            for (var x = 0; x < a.Width; x++)
            {
                var p = a.GetPixel(x, y);
                var q = b.GetPixel(x, y);
                sum += Math.Abs(p.Red - q.Red) + Math.Abs(p.Green - q.Green) + Math.Abs(p.Blue - q.Blue);
            }
        }
        return sum / (3.0 * a.Width * a.Height);
    }
}
