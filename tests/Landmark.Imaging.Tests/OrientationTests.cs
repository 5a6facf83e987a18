using SkiaSharp;
using Xunit;

namespace Landmark.Imaging.Tests;

/// <summary>EXIF orientation (an APP1 segment inserted by hand) is applied to variants and tensors.</summary>
public class OrientationTests
{
    private readonly ImagePipeline _pipeline = new(new ImagingOptions());

    /// <summary>Stored 400×200 with a red block top-left and a blue block top-right; where they land once displayed.</summary>
    public static TheoryData<ushort, string, string> Corners => new()
    {
        { 1, "top-left", "top-right" },
        { 2, "top-right", "top-left" },         // mirrored
        { 3, "bottom-right", "bottom-left" },   // turned 180°
        { 4, "bottom-left", "bottom-right" },   // flipped
        { 5, "top-left", "bottom-left" },       // transposed
        { 6, "top-right", "bottom-right" },     // turned 90° clockwise
        { 7, "bottom-right", "top-right" },     // transversed
        { 8, "bottom-left", "top-left" },       // turned 90° counter-clockwise
    };

    [Theory]
    [MemberData(nameof(Corners))]
    public void Orientation_is_applied_to_every_variant(ushort orientation, string red, string blue)
    {
        var jpeg = Stored(orientation);
        var header = _pipeline.Inspect(jpeg);
        Assert.Equal(orientation, header.Orientation);
        var swapped = orientation >= 5;
        Assert.Equal(swapped ? (200, 400) : (400, 200), (header.OrientedWidth, header.OrientedHeight));

        var prepared = _pipeline.Prepare(jpeg);
        Assert.Equal(header, prepared.Header);
        foreach (var variant in prepared.Variants)
        {
            var expected = variant.Name == "thumb" ? (swapped ? (80, 160) : (160, 80)) : (swapped ? (200, 400) : (400, 200));
            Assert.Equal(expected, (variant.Width, variant.Height));
            using var bitmap = SyntheticImages.DecodeBitmap(variant.Bytes);
            Assert.Equal(expected, (bitmap.Width, bitmap.Height));
            AssertColor(SKColors.Red, At(bitmap, red), $"{variant.Name} {red}");
            AssertColor(SKColors.Blue, At(bitmap, blue), $"{variant.Name} {blue}");
            AssertColor(SKColors.White, At(bitmap, "centre"), $"{variant.Name} centre");
        }
    }

    [Fact]
    public void Orientation_6_turns_the_image_clockwise_in_the_tensor_too()
    {
        const int size = 32;
        var tensor = _pipeline.ToTensor(Stored(6), size);
        // Red block (stored top-left) is displayed top-right: high red, low green at (x = size - 3, y = 2).
        Assert.True(tensor[(2 * size) + size - 3] > 0.9f && tensor[(size * size) + (2 * size) + size - 3] < 0.15f);
        // Top-left is white.
        Assert.True(tensor[(2 * size) + 2] > 0.9f && tensor[(size * size) + (2 * size) + 2] > 0.9f);
    }

    [Fact]
    public void Orientation_outside_1_to_8_is_ignored()
    {
        var header = _pipeline.Inspect(Stored(9));
        Assert.Equal(1, header.Orientation);
        Assert.Equal((400, 200), (header.OrientedWidth, header.OrientedHeight));
    }

    private static byte[] Stored(ushort orientation) =>
        SyntheticImages.WithExifOrientation(SyntheticImages.Encode(400, 200, SKEncodedImageFormat.Jpeg, SKColors.White, SKColors.Red, SKColors.Blue), orientation);

    private static SKColor At(SKBitmap bitmap, string where)
    {
        int dx = bitmap.Width / 16, dy = bitmap.Height / 16;
        return where switch
        {
            "top-left" => bitmap.GetPixel(dx, dy),
            "top-right" => bitmap.GetPixel(bitmap.Width - 1 - dx, dy),
            "bottom-left" => bitmap.GetPixel(dx, bitmap.Height - 1 - dy),
            "bottom-right" => bitmap.GetPixel(bitmap.Width - 1 - dx, bitmap.Height - 1 - dy),
            _ => bitmap.GetPixel(bitmap.Width / 2, bitmap.Height / 2),
        };
    }

    internal static void AssertColor(SKColor expected, SKColor actual, string where) =>
        Assert.True(Math.Abs(expected.Red - actual.Red) < 40 && Math.Abs(expected.Green - actual.Green) < 40 && Math.Abs(expected.Blue - actual.Blue) < 40,
            $"{where}: expected {expected}, got {actual}");
}
