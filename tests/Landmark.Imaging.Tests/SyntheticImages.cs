using SkiaSharp;

namespace Landmark.Imaging.Tests;

internal static class SyntheticImages
{
    /// <summary>A width×height image filled with <paramref name="fill"/> whose top-left 1/4×1/4 block is <paramref name="corner"/>.</summary>
    public static byte[] Encode(int width, int height, SKEncodedImageFormat format, SKColor fill, SKColor? corner = null, int quality = 95, byte alpha = 255)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(fill.WithAlpha(alpha));
            if (corner is { } c)
            {
                using var paint = new SKPaint { Color = c };
                canvas.DrawRect(0, 0, width / 4f, height / 4f, paint);
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>Inserts an EXIF APP1 segment with the given orientation right after the JPEG SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, IFD at 8
            0, 1,                                   // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1,           // tag 0x0112 Orientation, SHORT, count 1
            (byte)(orientation >> 8), (byte)orientation, 0, 0,
            0, 0, 0, 0,                             // no next IFD
        ];
        var payload = "Exif\0\0"u8.ToArray().Concat(tiff).ToArray();
        var length = payload.Length + 2;
        var segment = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)length }.Concat(payload);
        return jpeg.Take(2).Concat(segment).Concat(jpeg.Skip(2)).ToArray();
    }

    public static byte[] PngHeaderDeclaring(int width, int height)
    {
        var bytes = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13 };
        var chunk = new List<byte> { (byte)'I', (byte)'H', (byte)'D', (byte)'R' };
        chunk.AddRange(BigEndian(width));
        chunk.AddRange(BigEndian(height));
        chunk.AddRange(new byte[] { 8, 2, 0, 0, 0 });
        bytes.AddRange(chunk);
        bytes.AddRange(BigEndian((int)System.IO.Hashing.Crc32.HashToUInt32(chunk.ToArray())));
        bytes.AddRange(new byte[] { 0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82 });
        return bytes.ToArray();
    }

    private static byte[] BigEndian(int value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];
}
