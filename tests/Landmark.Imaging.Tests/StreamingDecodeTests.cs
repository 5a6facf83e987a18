using Landmark.HostileCorpus;
using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

/// <summary>PNG, GIF and BMP are decoded a strip of rows at a time and resampled as the rows arrive; the variants and
/// tensors are the same bytes as the whole-image decode the pipeline used before (decode everything, composite alpha
/// over white, resample), which these tests rebuild independently.</summary>
public class StreamingDecodeTests
{
    private static readonly ImagingOptions Options = new() { Variants = [new("embed", 512, 90), new("mid", 300, 85), new("thumb", 160, 80)] };
    private readonly ImagePipeline _pipeline = new(Options);

    public static TheoryData<string> Kinds => ["png", "png-alpha", "png-small", "png-grey", "png-palette", "png-palette-trns", "png-interlaced",
        "gif", "bmp-bottom-up", "bmp-top-down", "jpeg", "webp"];

    private static byte[] Make(string kind)
    {
        using var photo = SyntheticImages.Photo(1203, 797);
        switch (kind)
        {
            case "png":
                return SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Png);
            case "png-small":
                using (var small = SyntheticImages.Photo(333, 211))
                {
                    return SyntheticImages.EncodeBitmap(small, SKEncodedImageFormat.Png);
                }
            case "png-alpha":
                using (var translucent = new SKBitmap(new SKImageInfo(1203, 797, SKColorType.Rgba8888, SKAlphaType.Unpremul)))
                {
                    var pixels = photo.Bytes;
                    for (var i = 3; i < pixels.Length; i += 4)
                    {
                        pixels[i] = (byte)(i / 4 % 251);
                    }
                    System.Runtime.InteropServices.Marshal.Copy(pixels, 0, translucent.GetPixels(), pixels.Length);
                    return SyntheticImages.EncodeBitmap(translucent, SKEncodedImageFormat.Png);
                }
            case "png-grey":
                using (var grey = new SKBitmap(new SKImageInfo(1203, 797, SKColorType.Gray8, SKAlphaType.Opaque)))
                {
                    var pixels = new byte[grey.RowBytes * 797];
                    for (var i = 0; i < pixels.Length; i++)
                    {
                        pixels[i] = (byte)((i * 7) % 251);
                    }
                    System.Runtime.InteropServices.Marshal.Copy(pixels, 0, grey.GetPixels(), pixels.Length);
                    return SyntheticImages.EncodeBitmap(grey, SKEncodedImageFormat.Png);
                }
            case "png-palette":
                return Encoders.PalettePng(1203, 797);
            case "png-palette-trns":
                return Encoders.PalettePng(1203, 797, translucent: 120);
            case "png-interlaced":
                return Corpus.InterlacedPng(1203, 797);
            case "gif":
                return Encoders.Gif(901, 601, (x, y) => (byte)(((x * 7) + (y * 3)) % 256), i => ((byte)i, (byte)(255 - i), (byte)(i * 3)));
            case "bmp-bottom-up":
                return Encoders.Bmp(901, 601, (x, y) => ((byte)x, (byte)y, (byte)(x ^ y)), topDown: false);
            case "bmp-top-down":
                return Encoders.Bmp(901, 601, (x, y) => ((byte)x, (byte)y, (byte)(x ^ y)), topDown: true);
            case "jpeg":
                return SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Jpeg, 90);
            default:
                return SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Webp, 90);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Variants_and_tensors_are_the_bytes_of_a_whole_image_decode(string kind)
    {
        var bytes = Make(kind);
        var prepared = _pipeline.Prepare(bytes);
        Assert.Equal(3, prepared.Variants.Count);
        var (embedW, embedH) = (prepared.Variants[0].Width, prepared.Variants[0].Height);
        using var embed = Reference(bytes, embedW, embedH, embedW, embedH);
        using var mid = Reference(bytes, prepared.Variants[1].Width, prepared.Variants[1].Height, embedW, embedH);
        using var thumb = Resize(embed, prepared.Variants[2].Width, prepared.Variants[2].Height, null);
        Assert.Equal(Jpeg(embed, 90), prepared.Variants[0].Bytes);
        Assert.Equal(Jpeg(mid, 85), prepared.Variants[1].Bytes);
        Assert.Equal(Jpeg(thumb, 80), prepared.Variants[2].Bytes);

        var tensor = _pipeline.ToTensor(bytes, 224);
        using var square = Reference(bytes, 224, 224, 224, 224);
        var plane = 224 * 224;
        for (var y = 0; y < 224; y += 7)
        {
            for (var x = 0; x < 224; x += 5)
            {
                var p = square.GetPixel(x, y);
                Assert.Equal(p.Red * (1f / 255f), tensor[(y * 224) + x]);
                Assert.Equal(p.Green * (1f / 255f), tensor[plane + (y * 224) + x]);
                Assert.Equal(p.Blue * (1f / 255f), tensor[(2 * plane) + (y * 224) + x]);
            }
        }
    }

    [Fact]
    public void A_huge_solid_png_is_read_row_by_row_and_costs_its_outputs_not_its_pixels()
    {
        var png = Encoders.SolidPng(8900, 8900, 0, 128, 128);
        var cost = _pipeline.EstimatePrepareCost(png);
        Assert.True(cost < 3_000_000, $"{cost} pixels for an 8900×8900 PNG");
        var prepared = _pipeline.Prepare(png);
        Assert.Equal((512, 512), (prepared.Variants[0].Width, prepared.Variants[0].Height));
        using var embed = SyntheticImages.DecodeBitmap(prepared.Variants[0].Bytes);
        OrientationTests.AssertColor(new SKColor(0, 128, 128), embed.GetPixel(256, 256), "centre");
        Assert.Equal(0, _pipeline.Budget.InUse);
        Assert.True(_pipeline.Budget.Peak >= cost);
    }

    [Fact]
    public void A_large_bmp_streams_its_rows_and_costs_its_outputs_not_its_pixels()
    {
        var bmp = Encoders.Bmp(3000, 2000, (x, y) => ((byte)x, (byte)y, 50), topDown: false);
        var cost = _pipeline.EstimatePrepareCost(bmp);
        Assert.True(cost < 1_500_000, $"{cost} pixels for a 3000×2000 BMP");
    }

    [Fact]
    public void Whole_image_decoders_are_charged_for_what_they_hold()
    {
        var interlaced = Corpus.InterlacedPng(2000, 1000);
        Assert.True(_pipeline.EstimatePrepareCost(interlaced) >= 2_000_000);
        var progressive = Encoders.FlatJpeg(2000, 1000, progressive: true);
        var baseline = Encoders.FlatJpeg(2000, 1000);
        Assert.True(_pipeline.EstimatePrepareCost(progressive) >= _pipeline.EstimatePrepareCost(baseline) + 2_000_000);
        var lossless = SyntheticImages.Encode(2000, 1000, SKEncodedImageFormat.Webp, SKColors.Gray, alpha: 128);
        Assert.True(_pipeline.EstimatePrepareCost(lossless) >= 2_000_000);
    }

    [Fact]
    public void An_image_that_needs_more_than_the_whole_budget_is_rejected_as_too_large()
    {
        var pipeline = new ImagePipeline(new ImagingOptions { MaxPixels = 1_000_000, DecodeBudgetMegapixels = 1 });
        var interlaced = Corpus.InterlacedPng(1000, 1000);
        var error = Assert.Throws<ImageRejectedException>(() => pipeline.Prepare(interlaced));
        Assert.Equal(RejectionCodes.TooLarge, error.Code);
        Assert.Contains("decode budget", error.Reason, StringComparison.Ordinal);
        // Streamed, the same pixel count fits.
        Assert.Equal(2, pipeline.Prepare(Encoders.Bmp(1000, 1000, (x, y) => ((byte)x, (byte)y, 50), topDown: true)).Variants.Count);
    }

    [Fact]
    public void Rows_streamed_bottom_up_or_top_down_resample_like_the_whole_image()
    {
        using var photo = SyntheticImages.Photo(257, 389);
        var whole = new byte[4 * 61 * 97];
        Resampler.Resize(photo.Bytes, 257, 389, photo.RowBytes, whole, 61, 97, 4 * 61);
        foreach (var bottomUp in new[] { false, true })
        {
            var streamed = new byte[whole.Length];
            using var stream = new Resampler.RowStream(257, 389, 61, 97, bottomUp);
            for (var i = 0; i < 389; i++)
            {
                var y = bottomUp ? 388 - i : i;
                stream.Push(y, photo.Bytes.AsSpan(y * photo.RowBytes, 4 * 257), streamed, 4 * 61);
            }
            Assert.True(stream.IsComplete);
            Assert.Equal(whole, streamed);
        }
    }

    /// <summary>The previous pipeline: the whole image decoded at the codec's chosen size, alpha composited over white
    /// in one pass, then resampled.</summary>
    private static SKBitmap Reference(byte[] bytes, int width, int height, int decodeForW, int decodeForH)
    {
        using var codec = SKCodec.Create(new SKMemoryStream(bytes));
        // One decode serves every variant: at the codec's smallest scale that covers the largest one.
        var size = ChooseLikePipeline(codec, decodeForW, decodeForH);
        var opaque = codec.Info.AlphaType == SKAlphaType.Opaque;
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Premul, SKColorSpace.CreateSrgb());
        using var decoded = new SKBitmap(info);
        Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, decoded.GetPixels()));
        using var flat = new SKBitmap(info.WithAlphaType(SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(flat))
        using (var image = SKImage.FromBitmap(decoded))
        {
            canvas.Clear(SKColors.White);
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
        }
        return Resize(flat, width, height, null);
    }

    private static SKSizeI ChooseLikePipeline(SKCodec codec, int needW, int needH)
    {
        var full = codec.Info.Size;
        if (needW >= full.Width || needH >= full.Height)
        {
            return full;
        }
        var exact = Math.Max((float)needW / full.Width, (float)needH / full.Height);
        var best = full;
        foreach (var scale in new[] { exact, exact + (1f / Math.Min(full.Width, full.Height)), 1 / 8f, 2 / 8f, 3 / 8f, 4 / 8f, 5 / 8f, 6 / 8f, 7 / 8f })
        {
            if (scale < exact || scale >= 1f)
            {
                continue;
            }
            var scaled = codec.GetScaledDimensions(scale);
            if (scaled.Width >= needW && scaled.Height >= needH && scaled.Width <= full.Width && scaled.Height <= full.Height
                && (long)scaled.Width * scaled.Height < (long)best.Width * best.Height)
            {
                best = scaled;
            }
        }
        return best;
    }

    private static SKBitmap Resize(SKBitmap source, int width, int height, SKBitmap? unused)
    {
        _ = unused;
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var bytes = new byte[target.RowBytes * height];
        Resampler.Resize(source.Bytes, source.Width, source.Height, source.RowBytes, bytes, width, height, target.RowBytes);
        System.Runtime.InteropServices.Marshal.Copy(bytes, 0, target.GetPixels(), bytes.Length);
        return target;
    }

    private static byte[] Jpeg(SKBitmap bitmap, int quality)
    {
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore));
        return data!.ToArray();
    }
}

/// <summary>EXIF orientation on the streamed path. This SkiaSharp build's PNG codec does not read the eXIf chunk (it did
/// not before streaming either), so a PNG is shown as stored whatever its eXIf says; JPEG and WebP, whose orientation
/// Skia reads, go through the same Orient step after the decode (OrientationTests).</summary>
public class StreamedOrientationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(8)]
    [InlineData(65535)]
    public void A_streamed_png_with_an_exif_chunk_is_shown_as_stored_as_before(ushort orientation)
    {
        // 400×200, a red block in the stored top-left corner, grey elsewhere.
        var png = Encoders.Png(400, 200, (y, row) =>
        {
            for (var x = 0; x < 400; x++)
            {
                var red = x < 100 && y < 50;
                (row[3 * x], row[(3 * x) + 1], row[(3 * x) + 2]) = red ? ((byte)255, (byte)0, (byte)0) : ((byte)128, (byte)128, (byte)128);
            }
        });
        byte[] tiff = [(byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, 0, 0, 0, 0];
        var tagged = Corpus.InsertPngChunk(png, "eXIf", tiff);
        var pipeline = new ImagePipeline(new ImagingOptions { Variants = [new("full", 512, 95)] });
        Assert.Equal(1, pipeline.Inspect(tagged).Orientation);
        var variant = pipeline.Prepare(tagged).Variants[0];
        Assert.Equal((400, 200), (variant.Width, variant.Height));
        using var bitmap = SyntheticImages.DecodeBitmap(variant.Bytes);
        OrientationTests.AssertColor(SKColors.Red, bitmap.GetPixel(10, 10), $"orientation {orientation}");
        OrientationTests.AssertColor(new SKColor(128, 128, 128), bitmap.GetPixel(390, 190), $"orientation {orientation}");
    }
}
