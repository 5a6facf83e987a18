using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

/// <summary>Bad uploads come back as <see cref="ImageRejectedException"/> with a stable code, never as another exception.</summary>
public class RejectionTests
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    public static TheoryData<string, byte[]> Magics => new()
    {
        { "jpeg", [0xFF, 0xD8, 0xFF] },
        { "jpeg-app0", [0xFF, 0xD8, 0xFF, 0xE0] },
        { "png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] },
        { "webp", [.. "RIFF"u8, 0, 0x10, 0, 0, .. "WEBP"u8] },
        { "webp-vp8", [.. "RIFF"u8, 0, 0x10, 0, 0, .. "WEBPVP8 "u8] },
        { "gif", "GIF89a"u8.ToArray() },
        { "bmp", "BM"u8.ToArray() },
    };

    private static ImageRejectedException Rejected(Action action) => Assert.Throws<ImageRejectedException>(action);

    private string CodeOfEveryEntryPoint(byte[] bytes)
    {
        var prepare = Rejected(() => _pipeline.Prepare(bytes));
        var tensor = Rejected(() => _pipeline.ToTensor(bytes, 32));
        Assert.Equal(prepare.Code, tensor.Code);
        Assert.Equal($"{prepare.Code}: {prepare.Reason}", prepare.Message);
        return prepare.Code;
    }

    [Fact]
    public void Empty_file_is_rejected_as_empty()
    {
        Assert.Equal(RejectionCodes.Empty, Rejected(() => _pipeline.Inspect([])).Code);
        Assert.Equal(RejectionCodes.Empty, CodeOfEveryEntryPoint([]));
    }

    [Theory]
    [InlineData("hello, I am not a photo")]
    [InlineData("<html><body>404</body></html>")]
    [InlineData("GIF")]
    [InlineData("RIFF1234WAVEfmt ")]
    public void Text_or_other_file_named_jpg_is_rejected_as_unsupported_format(string content)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(content);
        Assert.Equal(RejectionCodes.UnsupportedFormat, Rejected(() => _pipeline.Inspect(bytes)).Code);
        var error = Rejected(() => _pipeline.Prepare(bytes));
        Assert.Equal(RejectionCodes.UnsupportedFormat, error.Code);
        Assert.StartsWith("unsupported_format: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Heif_and_avif_are_sniffed_but_rejected_as_unsupported_by_this_build()
    {
        foreach (var brand in new[] { "heic", "avif" })
        {
            var bytes = new byte[64];
            bytes[3] = 0x18;
            "ftyp"u8.CopyTo(bytes.AsSpan(4));
            System.Text.Encoding.ASCII.GetBytes(brand).CopyTo(bytes, 8);
            Assert.Equal(brand == "heic" ? ImageFormat.Heif : ImageFormat.Avif, FormatSniffer.Sniff(bytes));
            Assert.Equal(RejectionCodes.UnsupportedFormat, CodeOfEveryEntryPoint(bytes));
        }
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void One_by_one_image_is_rejected_as_too_small(SKEncodedImageFormat format)
    {
        var tiny = SyntheticImages.Encode(1, 1, format, SKColors.Red);
        Assert.Equal(RejectionCodes.TooSmall, Rejected(() => _pipeline.Inspect(tiny)).Code);
        Assert.Equal(RejectionCodes.TooSmall, CodeOfEveryEntryPoint(tiny));
        Assert.Equal(RejectionCodes.TooSmall, Rejected(() => _pipeline.Inspect(SyntheticImages.Encode(800, 15, format, SKColors.Red))).Code);
        Assert.Equal(16, _pipeline.Inspect(SyntheticImages.Encode(800, 16, format, SKColors.Red)).Height);
    }

    public static TheoryData<string, byte[]> Bombs => new()
    {
        { "png", SyntheticImages.PngHeaderDeclaring(30000, 30000) },
        { "jpeg", SyntheticImages.JpegDeclaring(30000, 30000) },
        { "webp", SyntheticImages.WebpHeaderDeclaring(16384, 16384) },
        { "gif", SyntheticImages.Gif(20, 20, SKColors.Red).Select((b, i) => i is 6 or 7 or 8 or 9 ? (byte)0xFF : b).ToArray() },
        { "bmp", SyntheticImages.Bmp(20, 20, SKColors.Red, declaredHeight: 20_000_000) },
    };

    [Theory]
    [MemberData(nameof(Bombs))]
    public void Header_declaring_a_huge_image_is_rejected_as_too_large_without_allocating_it(string format, byte[] bomb)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var inspected = Rejected(() => _pipeline.Inspect(bomb));
        var prepared = Rejected(() => _pipeline.Prepare(bomb));
        var tensor = Rejected(() => _pipeline.ToTensor(bomb, 224));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.All(new[] { inspected, prepared, tensor }, e => Assert.Equal(RejectionCodes.TooLarge, e.Code));
        if (format is "png" or "jpeg")
        {
            Assert.Contains("30000×30000", prepared.Reason, StringComparison.Ordinal);
        }
        // 30000×30000 RGBA would be 3.6 GB; the tensor alone is 600 kB and is only allocated after the checks.
        Assert.True(allocated < 1_000_000, $"{format}: {allocated} bytes allocated");
    }

    [Fact]
    public void Pixel_limit_is_configurable()
    {
        var strict = new ImagePipeline(new ImagingOptions { MaxPixels = 100 * 100 });
        Assert.Equal(RejectionCodes.TooLarge, Rejected(() => strict.Inspect(SyntheticImages.Encode(101, 100, SKEncodedImageFormat.Png, SKColors.Red))).Code);
        Assert.Equal(100, strict.Inspect(SyntheticImages.Encode(100, 100, SKEncodedImageFormat.Png, SKColors.Red)).Width);
    }

    [Fact]
    public void Too_many_bytes_is_rejected_before_parsing()
    {
        var pipeline = new ImagePipeline(new ImagingOptions { MaxBytes = 100 });
        var png = SyntheticImages.Encode(64, 64, SKEncodedImageFormat.Png, SKColors.Red, SKColors.Blue);
        Assert.True(png.Length > 100);
        Assert.Equal(RejectionCodes.TooManyBytes, Rejected(() => pipeline.Inspect(png)).Code);
        Assert.Equal(RejectionCodes.TooManyBytes, Rejected(() => pipeline.Prepare(png)).Code);
        Assert.Equal(RejectionCodes.TooManyBytes, Rejected(() => pipeline.ToTensor(png, 16)).Code);
    }

    [Fact]
    public void Jpeg_cut_in_half_is_rejected_as_truncated_but_its_header_still_inspects()
    {
        var jpeg = SyntheticImages.Encode(400, 300, SKEncodedImageFormat.Jpeg, SKColors.SkyBlue, SKColors.Red);
        var half = jpeg[..(jpeg.Length / 2)];
        Assert.Equal((400, 300), (_pipeline.Inspect(half).Width, _pipeline.Inspect(half).Height));
        Assert.Equal(RejectionCodes.Truncated, CodeOfEveryEntryPoint(half));
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void Image_cut_anywhere_is_rejected_as_truncated(SKEncodedImageFormat format)
    {
        using var photo = SyntheticImages.Photo(300, 200);
        var bytes = SyntheticImages.EncodeBitmap(photo, format, 90);
        foreach (var fraction in new[] { 0.002, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98 })
        {
            var cut = bytes[..Math.Max(FormatSniffer.Sniff(bytes) == ImageFormat.Png ? 8 : 12, (int)(bytes.Length * fraction))];
            var error = Rejected(() => _pipeline.Prepare(cut));
            Assert.True(error.Code == RejectionCodes.Truncated, $"{format} cut at {fraction}: {error.Message}");
        }
    }

    [Fact]
    public void Gif_and_bmp_cut_short_are_rejected_as_truncated()
    {
        foreach (var bytes in new[] { SyntheticImages.Gif(40, 30, SKColors.Red), SyntheticImages.Bmp(40, 30, SKColors.Red) })
        {
            foreach (var fraction in new[] { 0.3, 0.6, 0.9 })
            {
                var error = Rejected(() => _pipeline.Prepare(bytes[..(int)(bytes.Length * fraction)]));
                Assert.True(error.Code == RejectionCodes.Truncated, $"{FormatSniffer.Sniff(bytes)} cut at {fraction}: {error.Message}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Magics))]
    public void Random_garbage_after_a_valid_magic_is_rejected_as_corrupt(string name, byte[] magic)
    {
        for (var seed = 0; seed < 40; seed++)
        {
            var bytes = SyntheticImages.GarbageAfter(magic, seed);
            var error = Rejected(() => _pipeline.Prepare(bytes));
            Assert.True(error.Code == RejectionCodes.Corrupt, $"{name} seed {seed}: {error.Message}");
        }
    }

    [Fact]
    public void Damaged_png_data_is_rejected_as_corrupt()
    {
        using var photo = SyntheticImages.Photo(300, 200);
        var png = SyntheticImages.EncodeBitmap(photo, SKEncodedImageFormat.Png);
        for (var i = png.Length / 3; i < (png.Length / 3) + 200; i++)
        {
            png[i] ^= 0x5A;
        }
        Assert.Equal(RejectionCodes.Corrupt, CodeOfEveryEntryPoint(png));
    }

    [Fact]
    public void Bmp_with_an_extreme_height_field_is_rejected_not_thrown_as_overflow()
    {
        var bmp = SyntheticImages.Bmp(20, 20, SKColors.Red, declaredHeight: int.MinValue);
        var code = Rejected(() => _pipeline.Prepare(bmp)).Code;
        Assert.True(code is RejectionCodes.TooLarge or RejectionCodes.Corrupt, code);
    }

    [Fact]
    public void Hostile_prefixes_of_every_format_never_escape_as_other_exceptions()
    {
        var samples = new List<byte[]>
        {
            SyntheticImages.Encode(64, 48, SKEncodedImageFormat.Jpeg, SKColors.Red, SKColors.Blue),
            SyntheticImages.Encode(64, 48, SKEncodedImageFormat.Png, SKColors.Red, SKColors.Blue),
            SyntheticImages.Encode(64, 48, SKEncodedImageFormat.Webp, SKColors.Red, SKColors.Blue),
            SyntheticImages.Encode(64, 48, SKEncodedImageFormat.Webp, SKColors.Red, SKColors.Blue, alpha: 128),
            SyntheticImages.Gif(64, 48, SKColors.Red),
            SyntheticImages.Bmp(64, 48, SKColors.Red),
        };
        var random = new Random(7);
        foreach (var sample in samples)
        {
            for (var length = 1; length < Math.Min(sample.Length, 200); length++)
            {
                AcceptedOrRejected(sample[..length]);
            }
            for (var i = 0; i < 100; i++)
            {
                var mutated = (byte[])sample.Clone();
                for (var k = 0; k < 4; k++)
                {
                    mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
                }
                AcceptedOrRejected(mutated);
            }
        }

        void AcceptedOrRejected(byte[] bytes)
        {
            try
            {
                _pipeline.Inspect(bytes);
                _pipeline.Prepare(bytes);
            }
            catch (ImageRejectedException)
            {
            }
        }
    }
}
