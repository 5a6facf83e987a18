using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

/// <summary>The model input: size×size, RGB planes (CHW), values in [0, 1].</summary>
public class TensorTests
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    [Theory]
    [InlineData(255, 0, 0, 0)]
    [InlineData(0, 255, 0, 1)]
    [InlineData(0, 0, 255, 2)]
    public void Pure_colour_fills_its_own_channel_only(byte r, byte g, byte b, int channel)
    {
        foreach (var format in new[] { SKEncodedImageFormat.Png, SKEncodedImageFormat.Jpeg, SKEncodedImageFormat.Webp })
        {
            var tensor = _pipeline.ToTensor(SyntheticImages.Encode(64, 48, format, new SKColor(r, g, b)), 32);
            Assert.Equal(3 * 32 * 32, tensor.Length);
            Assert.All(tensor, v => Assert.InRange(v, 0f, 1f));
            for (var c = 0; c < 3; c++)
            {
                var mean = tensor.AsSpan(c * 1024, 1024).ToArray().Average();
                Assert.True(c == channel ? mean > 0.95 : mean < 0.05, $"{format}: channel {c} mean {mean:F3}");
            }
        }
    }

    [Fact]
    public void Layout_is_chw_row_major_and_squashes_to_a_square()
    {
        // 200×100, red block in the top-left quarter (50×25): squashed to 40×40 it covers x < 10, y < 10.
        var png = SyntheticImages.Encode(200, 100, SKEncodedImageFormat.Png, SKColors.White, SKColors.Red);
        const int size = 40;
        var tensor = _pipeline.ToTensor(png, size);
        float Pixel(int c, int x, int y) => tensor[(c * size * size) + (y * size) + x];
        Assert.True(Pixel(0, 4, 4) > 0.95f && Pixel(1, 4, 4) < 0.05f && Pixel(2, 4, 4) < 0.05f, "red at (4, 4)");
        Assert.True(Pixel(1, 20, 4) > 0.95f, "white right of the block");
        Assert.True(Pixel(1, 4, 20) > 0.95f, "white below the block");
        Assert.True(Pixel(1, 35, 35) > 0.95f, "white at the bottom right");
    }

    [Fact]
    public void Writes_into_a_slice_of_a_batch_buffer_and_nothing_else()
    {
        const int size = 16;
        const int stride = 3 * size * size;
        var batch = new float[(3 * stride) + 5];
        Array.Fill(batch, -1f);
        var images = new[] { SKColors.Red, SKColors.Lime, SKColors.Blue }.Select(c => SyntheticImages.Encode(50, 40, SKEncodedImageFormat.Png, c)).ToArray();
        for (var i = 0; i < images.Length; i++)
        {
            _pipeline.ToTensor(images[i], size, batch.AsSpan(i * stride, stride));
        }
        for (var i = 0; i < images.Length; i++)
        {
            Assert.Equal(_pipeline.ToTensor(images[i], size), batch.AsSpan(i * stride, stride).ToArray());
        }
        Assert.All(batch[(3 * stride)..], v => Assert.Equal(-1f, v));
        Assert.Throws<ArgumentException>(() => _pipeline.ToTensor(images[0], size, new float[stride - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => _pipeline.ToTensor(images[0], 0));
    }

    [Fact]
    public void Large_photo_gives_the_same_tensor_as_a_full_decode_within_resampling_error()
    {
        using var photo = SyntheticImages.Photo(2592, 1728);
        var jpeg = SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Jpeg, 95);
        const int size = 224;
        var tensor = _pipeline.ToTensor(jpeg, size);
        using var reference = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        photo.ScalePixels(reference, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        double error = 0;
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var p = reference.GetPixel(x, y);
                error += Math.Abs(tensor[(y * size) + x] - (p.Red / 255f))
                    + Math.Abs(tensor[(size * size) + (y * size) + x] - (p.Green / 255f))
                    + Math.Abs(tensor[(2 * size * size) + (y * size) + x] - (p.Blue / 255f));
            }
        }
        Assert.True(error / (3 * size * size) < 0.03, $"mean error {error / (3 * size * size):F4}");
    }

    [Fact]
    public void Tiny_image_is_upscaled_for_the_model()
    {
        var tensor = _pipeline.ToTensor(SyntheticImages.Encode(20, 16, SKEncodedImageFormat.Png, SKColors.Red), 224);
        Assert.Equal(3 * 224 * 224, tensor.Length);
        Assert.True(tensor.AsSpan(0, 224 * 224).ToArray().Min() > 0.95f);
    }

    [Fact]
    public void Embedded_colour_profile_is_converted_to_srgb()
    {
        // A Display P3 PNG (with its ICC profile) of the sRGB colour (40, 160, 60): stored as different numbers.
        using var p3 = SKColorSpace.CreateRgb(SKColorSpaceTransferFn.Srgb, SKColorSpaceXyz.DisplayP3);
        using var bitmap = new SKBitmap(new SKImageInfo(64, 64, SKColorType.Rgba8888, SKAlphaType.Opaque, p3));
        bitmap.Erase(new SKColor(40, 160, 60)); // converted to P3 on the way in
        var stored = bitmap.GetPixel(0, 0);
        Assert.True(Math.Abs(stored.Red - 40) > 20, $"stored P3 numbers {stored}");
        var png = SyntheticImages.EncodeBitmap(bitmap, SKEncodedImageFormat.Png);

        var tensor = _pipeline.ToTensor(png, 8);
        Assert.InRange(tensor[0] * 255, 37, 43);
        Assert.InRange(tensor[64] * 255, 157, 163);
        Assert.InRange(tensor[128] * 255, 57, 63);
    }
}
