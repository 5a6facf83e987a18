using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

public class FormatTests
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg, ImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Png, ImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp, ImageFormat.Webp)]
    public void Format_and_size_come_from_the_bytes(SKEncodedImageFormat encoded, ImageFormat expected)
    {
        var bytes = SyntheticImages.Encode(120, 80, encoded, SKColors.Green);
        Assert.Equal(expected, FormatSniffer.Sniff(bytes));
        Assert.Equal(new ImageHeader(expected, 120, 80, 1), _pipeline.Inspect(bytes));
        Assert.True(HeaderReader.TryReadSize(bytes, expected, out var w, out var h));
        Assert.Equal((120, 80), (w, h));
        Assert.Equal(expected, _pipeline.Prepare(bytes).Header.Format);
    }

    [Fact]
    public void Lossless_and_extended_webp_headers_are_read()
    {
        var lossless = SyntheticImages.Encode(123, 45, SKEncodedImageFormat.Webp, SKColors.Green, alpha: 200);
        Assert.Equal(ImageFormat.Webp, FormatSniffer.Sniff(lossless));
        Assert.True(HeaderReader.TryReadSize(lossless, ImageFormat.Webp, out var w, out var h));
        Assert.Equal((123, 45), (w, h));
        Assert.True(HeaderReader.TryReadSize(SyntheticImages.WebpHeaderDeclaring(300, 200), ImageFormat.Webp, out w, out h));
        Assert.Equal((300, 200), (w, h));
    }

    [Fact]
    public void Gif_and_bmp_are_accepted()
    {
        foreach (var (bytes, format) in new[] { (SyntheticImages.Gif(40, 30, SKColors.Red), ImageFormat.Gif), (SyntheticImages.Bmp(40, 30, SKColors.Red), ImageFormat.Bmp) })
        {
            var prepared = _pipeline.Prepare(bytes);
            Assert.Equal(new ImageHeader(format, 40, 30, 1), prepared.Header);
            var tensor = _pipeline.ToTensor(bytes, 8);
            Assert.True(tensor[..64].Average() > 0.95 && tensor[64..].Average() < 0.05, $"{format} is not red");
        }
    }

    [Fact]
    public void Structure_walk_tells_truncated_from_corrupt()
    {
        var jpeg = SyntheticImages.Encode(100, 80, SKEncodedImageFormat.Jpeg, SKColors.Red, SKColors.Blue);
        Assert.Equal(ContainerStatus.Valid, HeaderReader.CheckStructure(jpeg, ImageFormat.Jpeg).Status);
        Assert.Equal(ContainerStatus.Truncated, HeaderReader.CheckStructure(jpeg[..(jpeg.Length - 10)], ImageFormat.Jpeg).Status);
        Assert.Equal(ContainerStatus.Truncated, HeaderReader.CheckStructure(jpeg[..50], ImageFormat.Jpeg).Status);
        var broken = (byte[])jpeg.Clone();
        broken[2 + 2 + broken[5] + (broken[4] << 8)] = 0x00; // the byte where the second marker starts
        Assert.Equal(ContainerStatus.Corrupt, HeaderReader.CheckStructure(broken, ImageFormat.Jpeg).Status);

        var png = SyntheticImages.Encode(100, 80, SKEncodedImageFormat.Png, SKColors.Red, SKColors.Blue);
        Assert.Equal(ContainerStatus.Valid, HeaderReader.CheckStructure(png, ImageFormat.Png).Status);
        Assert.Equal(ContainerStatus.Truncated, HeaderReader.CheckStructure(png[..(png.Length / 2)], ImageFormat.Png).Status);
        var badCrc = (byte[])png.Clone();
        badCrc[20] ^= 1; // inside IHDR
        Assert.Equal(ContainerStatus.Corrupt, HeaderReader.ReadHeader(badCrc, ImageFormat.Png).Status);

        var webp = SyntheticImages.Encode(100, 80, SKEncodedImageFormat.Webp, SKColors.Red, SKColors.Blue);
        Assert.Equal(ContainerStatus.Valid, HeaderReader.CheckStructure(webp, ImageFormat.Webp).Status);
        Assert.Equal(ContainerStatus.Truncated, HeaderReader.CheckStructure(webp[..(webp.Length / 2)], ImageFormat.Webp).Status);

        var gif = SyntheticImages.Gif(30, 20, SKColors.Red);
        Assert.Equal(ContainerStatus.Valid, HeaderReader.CheckStructure(gif, ImageFormat.Gif).Status);
        Assert.Equal(ContainerStatus.Truncated, HeaderReader.CheckStructure(gif[..^1], ImageFormat.Gif).Status);
    }

    [Fact]
    public void Content_hash_is_lower_case_sha256_hex()
    {
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ContentHash.Sha256Hex("abc"u8));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ContentHash.Sha256Hex([]));
    }
}
