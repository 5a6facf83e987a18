using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

public class ResamplerTests
{
    [Fact]
    public void Same_size_is_an_exact_copy()
    {
        using var photo = SyntheticImages.Photo(37, 23);
        var pixels = photo.GetPixelSpan().ToArray();
        var output = new byte[pixels.Length];
        Resampler.Resize(pixels, 37, 23, photo.RowBytes, output, 37, 23, photo.RowBytes);
        Assert.Equal(pixels, output);
    }

    [Fact]
    public void Flat_colour_stays_flat_at_any_scale()
    {
        var input = Enumerable.Repeat(new byte[] { 200, 10, 99, 255 }, 71 * 53).SelectMany(p => p).ToArray();
        foreach (var (w, h) in new[] { (1, 1), (3, 200), (70, 52), (17, 5), (150, 3) })
        {
            var output = new byte[4 * w * h];
            Resampler.Resize(input, 71, 53, 4 * 71, output, w, h, 4 * w);
            for (var i = 0; i < output.Length; i += 4)
            {
                Assert.Equal(new byte[] { 200, 10, 99, 255 }, output[i..(i + 4)]);
            }
        }
    }

    [Fact]
    public void Enlarging_matches_skia_mitchell_cubic()
    {
        // When enlarging, the kernel is not widened, so this is Skia's own SKCubicResampler.Mitchell.
        using var photo = SyntheticImages.Photo(60, 40);
        using var skia = new SKBitmap(new SKImageInfo(90, 60, SKColorType.Rgba8888, SKAlphaType.Opaque));
        photo.ScalePixels(skia, new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var ours = new SKBitmap(new SKImageInfo(90, 60, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var buffer = new byte[ours.RowBytes * 60];
        Resampler.Resize(photo.GetPixelSpan(), 60, 40, photo.RowBytes, buffer, 90, 60, ours.RowBytes);
        System.Runtime.InteropServices.Marshal.Copy(buffer, 0, ours.GetPixels(), buffer.Length);
        Assert.True(VariantTests.MeanAbsoluteDifference(skia, ours) < 1.5, $"{VariantTests.MeanAbsoluteDifference(skia, ours):F2}");
    }

    [Fact]
    public void Reducing_a_fine_pattern_averages_it_instead_of_aliasing()
    {
        // One-pixel black and white stripes reduced 7×: the result must be uniform grey, not stripes.
        const int w = 700, h = 70;
        var input = new byte[4 * w * h];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var v = (byte)(x % 2 == 0 ? 255 : 0);
                input.AsSpan((4 * ((y * w) + x)), 4).Fill(v);
            }
        }
        var output = new byte[4 * 100 * 10];
        Resampler.Resize(input, w, h, 4 * w, output, 100, 10, 400);
        Assert.All(output.Where((_, i) => i % 4 == 0), v => Assert.InRange(v, 120, 135));
    }

    [Fact]
    public void Row_padding_is_respected()
    {
        var input = new byte[3 * 16];
        for (var y = 0; y < 3; y++)
        {
            input.AsSpan(y * 16, 8).Fill(100); // two pixels, then 8 bytes of padding that must not leak
            input.AsSpan((y * 16) + 8, 8).Fill(255);
        }
        var output = new byte[2 * 12];
        output.AsSpan().Fill(7);
        Resampler.Resize(input, 2, 3, 16, output, 1, 2, 12);
        Assert.Equal(new byte[] { 100, 100, 100, 100, 7, 7, 7, 7, 7, 7, 7, 7, 100, 100, 100, 100, 7, 7, 7, 7, 7, 7, 7, 7 }, output);
    }
}
