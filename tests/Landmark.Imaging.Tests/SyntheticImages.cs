using System.Buffers.Binary;
using SkiaSharp;

namespace Landmark.Imaging.Tests;

/// <summary>Images made in code: encoded with SkiaSharp (JPEG, PNG, WebP) or written byte by byte (GIF, BMP, EXIF
/// segments, headers that declare absurd sizes).</summary>
internal static class SyntheticImages
{
    /// <summary>A width×height image filled with <paramref name="fill"/>; the top-left quarter-by-quarter block is
    /// <paramref name="topLeft"/> and the top-right one <paramref name="topRight"/>, when given.</summary>
    public static byte[] Encode(int width, int height, SKEncodedImageFormat format, SKColor fill, SKColor? topLeft = null,
        SKColor? topRight = null, int quality = 95, byte alpha = 255)
    {
        using var bitmap = Draw(width, height, fill.WithAlpha(alpha), topLeft, topRight);
        using var pixmap = bitmap.PeekPixels();
        using var data = format == SKEncodedImageFormat.Webp
            ? pixmap.Encode(new SKWebpEncoderOptions(alpha == 255 ? SKWebpEncoderCompression.Lossy : SKWebpEncoderCompression.Lossless, quality))
            : pixmap.Encode(format, quality);
        return data?.ToArray() ?? throw new InvalidOperationException($"SkiaSharp cannot encode {format}");
    }

    /// <summary>A smooth colourful image (gradients and rings), for checks that need detail rather than flat colour.</summary>
    public static SKBitmap Photo(int width, int height)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = new byte[bitmap.RowBytes * height];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var u = (double)x / width;
                var v = (double)y / height;
                var ring = 0.5 + (0.5 * Math.Sin(Math.Sqrt(((u - 0.5) * (u - 0.5)) + ((v - 0.5) * (v - 0.5))) * 40));
                var p = (y * bitmap.RowBytes) + (4 * x);
                (pixels[p], pixels[p + 1], pixels[p + 2], pixels[p + 3]) = ((byte)(255 * u), (byte)(255 * v), (byte)(255 * ring), 255);
            }
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return bitmap;
    }

    public static byte[] EncodeBitmap(SKBitmap bitmap, SKEncodedImageFormat format, int quality = 95)
    {
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(format, quality);
        return data?.ToArray() ?? throw new InvalidOperationException($"SkiaSharp cannot encode {format}");
    }

    public static SKBitmap Draw(int width, int height, SKColor fill, SKColor? topLeft = null, SKColor? topRight = null)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(fill);
        if (topLeft is { } tl)
        {
            using var paint = new SKPaint { Color = tl };
            canvas.DrawRect(0, 0, width / 4f, height / 4f, paint);
        }
        if (topRight is { } tr)
        {
            using var paint = new SKPaint { Color = tr };
            canvas.DrawRect(width * 3 / 4f, 0, width / 4f, height / 4f, paint);
        }
        return bitmap;
    }

    /// <summary>Inserts an EXIF APP1 segment (big-endian TIFF, one IFD entry: Orientation) right after the JPEG SOI.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, first IFD at offset 8
            0, 1,                                   // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1,           // tag 0x0112 Orientation, type SHORT, count 1
            (byte)(orientation >> 8), (byte)orientation, 0, 0,
            0, 0, 0, 0,                             // no next IFD
        ];
        var payload = "Exif\0\0"u8.ToArray().Concat(tiff).ToArray();
        var length = payload.Length + 2;
        var segment = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)length }.Concat(payload);
        return jpeg.Take(2).Concat(segment).Concat(jpeg.Skip(2)).ToArray();
    }

    /// <summary>A PNG signature, a valid IHDR (with its CRC) declaring width×height, and IEND: no pixel data at all.</summary>
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

    /// <summary>A real JPEG whose frame header (SOF) is rewritten to declare width×height.</summary>
    public static byte[] JpegDeclaring(int width, int height)
    {
        var jpeg = Encode(64, 48, SKEncodedImageFormat.Jpeg, SKColors.Olive);
        for (var i = 2; i + 9 < jpeg.Length;)
        {
            var marker = jpeg[i + 1];
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), (ushort)width);
                return jpeg;
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
        }
        throw new InvalidOperationException("no frame header");
    }

    /// <summary>An extended WebP (VP8X) header declaring a width×height canvas and nothing else.</summary>
    public static byte[] WebpHeaderDeclaring(int width, int height)
    {
        var bytes = new byte[30];
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 22);
        "WEBPVP8X"u8.CopyTo(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 10);
        WriteUInt24(bytes.AsSpan(24), width - 1);
        WriteUInt24(bytes.AsSpan(27), height - 1);
        return bytes;
    }

    /// <summary>A GIF of one colour, written by hand (SkiaSharp has no GIF encoder): a 128-entry palette and an LZW
    /// stream of 8-bit codes with a clear code every 100 pixels so the code width never grows.</summary>
    public static byte[] Gif(int width, int height, SKColor color)
    {
        var o = new List<byte>("GIF89a"u8.ToArray());
        o.AddRange([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0x86, 0, 0]);
        for (var i = 0; i < 128; i++)
        {
            o.AddRange(i == 1 ? [color.Red, color.Green, color.Blue] : [(byte)0, (byte)0, (byte)0]);
        }
        o.AddRange([0x2C, 0, 0, 0, 0, (byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0, 7]);
        var codes = new List<byte>();
        for (var p = 0; p < width * height; p++)
        {
            if (p % 100 == 0)
            {
                codes.Add(128); // clear
            }
            codes.Add(1);
        }
        codes.Add(129); // end of information
        for (var i = 0; i < codes.Count; i += 255)
        {
            var n = Math.Min(255, codes.Count - i);
            o.Add((byte)n);
            o.AddRange(codes.Skip(i).Take(n));
        }
        o.Add(0);
        o.Add(0x3B);
        return o.ToArray();
    }

    /// <summary>A 24-bit bottom-up BMP of one colour.</summary>
    public static byte[] Bmp(int width, int height, SKColor color, int? declaredHeight = null)
    {
        var row = ((width * 3) + 3) & ~3;
        var size = 54 + (row * height);
        var o = new byte[size];
        o[0] = (byte)'B';
        o[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(22), declaredHeight ?? height);
        BinaryPrimitives.WriteInt16LittleEndian(o.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(o.AsSpan(28), 24);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var p = 54 + (y * row) + (x * 3);
                (o[p], o[p + 1], o[p + 2]) = (color.Blue, color.Green, color.Red);
            }
        }
        return o;
    }

    /// <summary><paramref name="magic"/> followed by random bytes.</summary>
    public static byte[] GarbageAfter(ReadOnlySpan<byte> magic, int seed, int length = 4096)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        magic.CopyTo(bytes);
        return bytes;
    }

    public static SKBitmap DecodeBitmap(byte[] encoded) =>
        SKBitmap.Decode(encoded) ?? throw new InvalidOperationException("SkiaSharp cannot decode the bytes");

    private static byte[] BigEndian(int value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    private static void WriteUInt24(Span<byte> span, int value) => (span[0], span[1], span[2]) = ((byte)value, (byte)(value >> 8), (byte)(value >> 16));
}
