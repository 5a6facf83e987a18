using System.Buffers.Binary;
using Landmark.Testing;
using SkiaSharp;

namespace Landmark.HostileCorpus;

/// <summary>What a hostile file is expected to get: accepted, rejected, or whichever the decoder decides (byte flips).</summary>
public enum Expect
{
    Accepted,
    Rejected,
    Either,
}

/// <summary>One generated file: a unique name, its kind (for the counts), the bytes, what it should get and, for
/// rejections, the codes that are right.</summary>
public sealed record HostileFile(string Name, string Kind, byte[] Bytes, Expect Expect, params string[] Codes);

/// <summary>
/// The hostile image corpus, generated in code from a fixed seed and (for cuts and flips) real photos of the shared
/// dataset: decompression bombs (PNG, GIF, WebP, JPEG), huge declared dimensions, progressive, CMYK and 12-bit JPEG,
/// photos truncated at every eighth, seeded byte flips of photos, EXIF with absurd values, zero-length frames and
/// polyglots. Nothing is checked in.
/// </summary>
public static class Corpus
{
    public const string TooLarge = "too_large";
    public const string TooSmall = "too_small";
    public const string Corrupt = "corrupt";
    public const string Truncated = "truncated";
    public const string Unsupported = "unsupported_format";
    public const string Empty = "empty";

    /// <summary>Every file. <paramref name="photos"/> real photos are cut and flipped (the first baseline JPEG,
    /// progressive JPEG, PNG and WebP of the dataset, in path order).</summary>
    public static IReadOnlyList<HostileFile> Build(bool includeDataset = true)
    {
        var files = new List<HostileFile>();
        files.AddRange(Bombs());
        files.AddRange(HugeDeclaredSizes());
        files.AddRange(OddJpegs());
        files.AddRange(AbsurdExif());
        files.AddRange(ZeroLengthFrames());
        files.AddRange(Polyglots());
        if (includeDataset)
        {
            foreach (var (name, bytes) in RealPhotos())
            {
                files.AddRange(Cuts(name, bytes));
                files.AddRange(Flips(name, bytes));
            }
        }
        return files;
    }

    /// <summary>How many files of each kind.</summary>
    public static string Summary(IEnumerable<HostileFile> files) =>
        string.Join(", ", files.GroupBy(f => f.Kind).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));

    // Small files that decompress to many pixels. Those over MaxPixels must be refused from the header; those under it
    // must be decoded within the decode budget (streamed, or charged for what the decoder holds).
    public static IEnumerable<HostileFile> Bombs()
    {
        yield return new("bomb-png-8900x8900-solid", "bomb", Encoders.SolidPng(8900, 8900, 30, 120, 200), Expect.Accepted);
        yield return new("bomb-png-30000x30000-one-row", "bomb", PngWithRows(30000, 30000, 1), Expect.Rejected, TooLarge);
        yield return new("bomb-png-interlaced-4000x4000", "bomb", InterlacedPng(4000, 4000), Expect.Accepted);
        yield return new("bomb-gif-8000x8000-solid", "bomb", SolidGif(8000, 8000), Expect.Accepted);
        yield return new("bomb-gif-65535x65535", "bomb", SolidGif(65535, 65535, frame: (64, 64)), Expect.Rejected, TooLarge);
        yield return new("bomb-webp-lossless-3000x3000", "bomb", SolidWebp(3000, 3000, lossless: true), Expect.Accepted);
        yield return new("bomb-webp-lossy-3000x3000", "bomb", SolidWebp(3000, 3000, lossless: false), Expect.Accepted);
        yield return new("bomb-jpeg-progressive-6000x6000", "bomb", Encoders.FlatJpeg(6000, 6000, progressive: true), Expect.Accepted);
        yield return new("bomb-jpeg-12000x12000", "bomb", Encoders.FlatJpeg(12000, 12000), Expect.Rejected, TooLarge);
    }

    public static IEnumerable<HostileFile> HugeDeclaredSizes()
    {
        yield return new("header-png-2147483647x1", "huge-header", Encoders.PngContainer(int.MaxValue, 1, null), Expect.Rejected, TooLarge, TooSmall, Corrupt);
        yield return new("header-png-4294967295-square", "huge-header", Encoders.PngContainer(uint.MaxValue, uint.MaxValue, null), Expect.Rejected, Corrupt, TooLarge);
        yield return new("header-png-0x0", "huge-header", Encoders.PngContainer(0, 0, null), Expect.Rejected, Corrupt);
        yield return new("header-png-1x80000000", "huge-header", Encoders.PngContainer(1, 80_000_000, null), Expect.Rejected, TooSmall, TooLarge, Corrupt, Truncated);
        yield return new("header-jpeg-65535x65535", "huge-header", JpegDeclaring(SkiaJpeg(64, 48), 65535, 65535), Expect.Rejected, TooLarge);
        yield return new("header-jpeg-0x0", "huge-header", JpegDeclaring(SkiaJpeg(64, 48), 0, 0), Expect.Rejected, TooSmall, Corrupt, Truncated);
        yield return new("header-webp-vp8x-16777216-square", "huge-header", WebpVp8xDeclaring(1 << 24, 1 << 24), Expect.Rejected, TooLarge);
        yield return new("header-webp-vp8l-16384-square", "huge-header", WebpVp8lDeclaring(16384, 16384), Expect.Rejected, TooLarge, Corrupt, Truncated);
        yield return new("header-gif-screen-65535x65535", "huge-header", GifScreen(SolidGif(64, 64), 65535, 65535), Expect.Rejected, TooLarge);
        yield return new("header-bmp-height-20000000", "huge-header", BmpHeight(20_000_000), Expect.Rejected, TooLarge);
        yield return new("header-bmp-height-int-min", "huge-header", BmpHeight(int.MinValue), Expect.Rejected, TooLarge, Corrupt);
        yield return new("header-bmp-width-negative", "huge-header", BmpWidth(-64), Expect.Rejected, Corrupt);
    }

    public static IEnumerable<HostileFile> OddJpegs()
    {
        yield return new("jpeg-progressive-flat", "odd-jpeg", Encoders.FlatJpeg(640, 480, progressive: true), Expect.Accepted);
        yield return new("jpeg-cmyk-adobe", "odd-jpeg", Encoders.FlatJpeg(640, 480, components: 4), Expect.Accepted);
        yield return new("jpeg-cmyk-progressive", "odd-jpeg", Encoders.FlatJpeg(640, 480, components: 4, progressive: true), Expect.Accepted);
        yield return new("jpeg-greyscale", "odd-jpeg", Encoders.FlatJpeg(640, 480, components: 1), Expect.Accepted);
        yield return new("jpeg-12-bit", "odd-jpeg", Encoders.FlatJpeg(640, 480, precision: 12), Expect.Rejected, Corrupt, Truncated, Unsupported);
        yield return new("jpeg-baseline-flat", "odd-jpeg", Encoders.FlatJpeg(640, 480), Expect.Accepted);
        yield return new("jpeg-sof-precision-patched-to-12", "odd-jpeg", PatchSofPrecision(SkiaJpeg(320, 240), 12), Expect.Rejected, Corrupt, Truncated, Unsupported);
        yield return new("jpeg-sof-precision-patched-to-16", "odd-jpeg", PatchSofPrecision(SkiaJpeg(320, 240), 16), Expect.Rejected, Corrupt, Truncated, Unsupported);
    }

    public static IEnumerable<HostileFile> AbsurdExif()
    {
        var jpeg = SkiaJpeg(320, 240);
        foreach (var orientation in new ushort[] { 0, 9, 65535 })
        {
            yield return new($"exif-orientation-{orientation}", "exif", WithExif(jpeg, OrientationIfd(orientation)), Expect.Accepted);
        }
        yield return new("exif-ifd-offset-huge", "exif", WithExif(jpeg, Tiff(0xFFFFFFF0, [])), Expect.Accepted);
        yield return new("exif-ifd-loop-to-itself", "exif", WithExif(jpeg, LoopingIfd()), Expect.Accepted);
        yield return new("exif-entry-count-65535", "exif", WithExif(jpeg, Tiff(8, [0xFF, 0xFF, 0x01, 0x12])), Expect.Accepted);
        yield return new("exif-orientation-long-count-huge", "exif", WithExif(jpeg, OrientationIfd(6, type: 4, count: 0x7FFFFFFF)), Expect.Accepted);
        yield return new("exif-subifd-pointer-loop", "exif", WithExif(jpeg, SubIfdLoop()), Expect.Accepted);
        yield return new("exif-truncated-tiff-header", "exif", WithExifPayload(jpeg, [.. "Exif\0\0"u8, (byte)'M', (byte)'M', 0]), Expect.Accepted);
        yield return new("exif-segment-length-past-end", "exif", ExifLengthPastEnd(jpeg), Expect.Rejected, Truncated, Corrupt);
    }

    public static IEnumerable<HostileFile> ZeroLengthFrames()
    {
        yield return new("gif-frame-0x0", "zero-frame", SolidGif(64, 64, frame: (0, 0)), Expect.Either, Corrupt, Truncated);
        yield return new("gif-no-frame", "zero-frame", [.. "GIF89a"u8, 64, 0, 64, 0, 0, 0, 0, 0x3B], Expect.Rejected, Corrupt, Truncated);
        yield return new("png-idat-empty", "zero-frame", Encoders.PngContainer(64, 64, []), Expect.Rejected, Corrupt, Truncated);
        yield return new("png-no-idat", "zero-frame", Encoders.PngContainer(64, 64, null), Expect.Rejected, Corrupt, Truncated);
        yield return new("png-zero-idat-then-data", "zero-frame", PngEmptyIdatFirst(64, 64), Expect.Either, Corrupt, Truncated);
        yield return new("webp-vp8-chunk-empty", "zero-frame", [.. "RIFF"u8, 12, 0, 0, 0, .. "WEBPVP8 "u8, 0, 0, 0, 0], Expect.Rejected, Corrupt, Truncated);
        yield return new("jpeg-no-scan", "zero-frame", JpegWithoutScan(SkiaJpeg(64, 48)), Expect.Rejected, Corrupt, Truncated);
        yield return new("jpeg-soi-eoi", "zero-frame", [0xFF, 0xD8, 0xFF, 0xD9], Expect.Rejected, Corrupt, Truncated);
        yield return new("bmp-no-pixels", "zero-frame", Encoders.Bmp(64, 48, (_, _) => (1, 2, 3), topDown: false)[..54], Expect.Rejected, Truncated, Corrupt);
        yield return new("empty-file", "zero-frame", [], Expect.Rejected, Empty);
    }

    public static IEnumerable<HostileFile> Polyglots()
    {
        var png = Encoders.SolidPng(64, 64, 200, 10, 10);
        var jpeg = SkiaJpeg(64, 48);
        var zip = MiniZip();
        yield return new("polyglot-png-then-zip", "polyglot", [.. png, .. zip], Expect.Accepted);
        yield return new("polyglot-jpeg-then-zip", "polyglot", [.. jpeg, .. zip], Expect.Accepted);
        yield return new("polyglot-gif-then-zip", "polyglot", [.. SolidGif(64, 64), .. zip], Expect.Accepted);
        yield return new("polyglot-html-with-jpeg-magic", "polyglot",
            [0xFF, 0xD8, 0xFF, .. "<html><body><script>alert(document.cookie)</script>/etc/passwd</body></html>"u8], Expect.Rejected, Corrupt, Truncated);
        yield return new("polyglot-zip-with-png-inside", "polyglot", [.. zip, .. png], Expect.Rejected, Unsupported);
        yield return new("polyglot-pdf-header-then-jpeg", "polyglot", [.. "%PDF-1.7\n"u8, .. jpeg], Expect.Rejected, Unsupported);
        yield return new("polyglot-png-chunk-holding-html", "polyglot",
            InsertPngChunk(png, "tEXt", [.. "Comment\0<script src=//evil/x.js></script>"u8]), Expect.Accepted);
        yield return new("polyglot-jpeg-comment-holding-php", "polyglot", InsertJpegSegment(jpeg, 0xFE, "<?php system($_GET['c']); ?>"u8.ToArray()), Expect.Accepted);
        yield return new("text-named-jpg", "polyglot", "/srv/landmark/secret.txt: not a photo\n"u8.ToArray(), Expect.Rejected, Unsupported);
    }

    /// <summary>A photo cut after k/8 of its bytes, k = 1..7 (k = 0 is the empty file, k = 8 the photo). libjpeg renders
    /// a progressive JPEG from the scans it has (a blurrier picture), so those cuts may be accepted.</summary>
    public static IEnumerable<HostileFile> Cuts(string name, byte[] photo)
    {
        for (var k = 1; k < 8; k++)
        {
            yield return new($"cut-{name}-{k}of8", "truncated", photo[..(photo.Length * k / 8)],
                name.StartsWith("progressive", StringComparison.Ordinal) ? Expect.Either : Expect.Rejected, Truncated, Corrupt);
        }
    }

    /// <summary>Seeded random byte flips: ten copies with 1, 2, 4 … 512 flipped bytes (never in the first 16, so the
    /// file stays an image of its format).</summary>
    public static IEnumerable<HostileFile> Flips(string name, byte[] photo)
    {
        var random = new Random(name.Aggregate(17, (h, c) => unchecked((h * 31) + c))); // stable across runs (HashCode is not)
        for (var n = 0; n < 10; n++)
        {
            var copy = (byte[])photo.Clone();
            for (var i = 0; i < 1 << n; i++)
            {
                copy[16 + random.Next(copy.Length - 16)] ^= (byte)(1 + random.Next(255));
            }
            yield return new($"flip-{name}-{1 << n}", "byte-flips", copy, Expect.Either, Corrupt, Truncated, TooLarge, TooSmall);
        }
    }

    /// <summary>The first baseline JPEG, progressive JPEG, PNG and WebP of the shared dataset (path order).</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> RealPhotos()
    {
        var root = Path.Combine(TestPaths.RequireLandmarksMini(), "images");
        var wanted = new Dictionary<string, byte[]?> { ["baseline-jpeg"] = null, ["progressive-jpeg"] = null, ["png"] = null, ["webp"] = null };
        foreach (var file in Directory.EnumerateFiles(root, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            var kind = bytes switch
            {
                [0xFF, 0xD8, 0xFF, ..] => IsProgressive(bytes) ? "progressive-jpeg" : "baseline-jpeg",
                [0x89, 0x50, 0x4E, 0x47, ..] => "png",
                [(byte)'R', (byte)'I', (byte)'F', (byte)'F', ..] => "webp",
                _ => null,
            };
            if (kind is not null && wanted[kind] is null && bytes.Length < 4_000_000)
            {
                wanted[kind] = bytes;
            }
            if (wanted.Values.All(v => v is not null))
            {
                break;
            }
        }
        return wanted.Where(kv => kv.Value is not null).Select(kv => (kv.Key, kv.Value!));
    }

    // ---------------------------------------------------------------- builders

    public static byte[] InterlacedPng(int width, int height) =>
        Encoders.Png(width, height, (y, row) =>
        {
            for (var x = 0; x < width; x++)
            {
                (row[3 * x], row[(3 * x) + 1], row[(3 * x) + 2]) = ((byte)(x * 255 / width), (byte)(y * 255 / height), 90);
            }
        }, interlaced: true);

    /// <summary>A valid header declaring width×height whose IDAT holds only <paramref name="rows"/> rows.</summary>
    private static byte[] PngWithRows(int width, int height, int rows)
    {
        using var idat = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(idat, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            for (var y = 0; y < rows; y++)
            {
                z.Write(new byte[1 + (3 * width)]);
            }
        }
        return Encoders.PngContainer(width, height, idat.ToArray());
    }

    public static byte[] SolidGif(int width, int height, (int W, int H)? frame = null) =>
        Encoders.Gif(width, height, (_, _) => 1, i => i == 1 ? ((byte)200, (byte)40, (byte)40) : ((byte)0, (byte)0, (byte)0), frame?.W, frame?.H);

    private static byte[] SolidWebp(int width, int height, bool lossless)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        bitmap.Erase(new SKColor(20, 160, 90, lossless ? (byte)200 : (byte)255));
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(new SKWebpEncoderOptions(lossless ? SKWebpEncoderCompression.Lossless : SKWebpEncoderCompression.Lossy, 50));
        return data!.ToArray();
    }

    public static byte[] SkiaJpeg(int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.SkyBlue);
            using var paint = new SKPaint { Color = SKColors.Red };
            canvas.DrawRect(0, 0, width / 4f, height / 4f, paint);
        }
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data!.ToArray();
    }

    private static int SofOffset(byte[] jpeg)
    {
        for (var i = 2; i + 9 < jpeg.Length;)
        {
            if (jpeg[i + 1] is 0xC0 or 0xC1 or 0xC2)
            {
                return i;
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
        }
        throw new InvalidOperationException("no frame header");
    }

    private static byte[] JpegDeclaring(byte[] jpeg, int width, int height)
    {
        var i = SofOffset(jpeg);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), (ushort)width);
        return jpeg;
    }

    private static byte[] PatchSofPrecision(byte[] jpeg, byte precision)
    {
        jpeg[SofOffset(jpeg) + 4] = precision;
        return jpeg;
    }

    private static bool IsProgressive(byte[] jpeg)
    {
        for (var i = 2; i + 4 < jpeg.Length && jpeg[i] == 0xFF;)
        {
            var marker = jpeg[i + 1];
            if (marker is 0xC2 or 0xC6 or 0xCA or 0xCE)
            {
                return true;
            }
            if (marker is 0xC0 or 0xC1 or 0xDA)
            {
                return false;
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
        }
        return false;
    }

    private static byte[] JpegWithoutScan(byte[] jpeg)
    {
        for (var i = 2; i + 4 < jpeg.Length;)
        {
            if (jpeg[i + 1] == 0xDA)
            {
                return [.. jpeg[..i], 0xFF, 0xD9];
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
        }
        throw new InvalidOperationException("no scan");
    }

    private static byte[] InsertJpegSegment(byte[] jpeg, byte marker, byte[] payload) =>
        [.. jpeg[..2], 0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2), .. payload, .. jpeg[2..]];

    private static byte[] WebpVp8xDeclaring(int width, int height)
    {
        var bytes = new byte[30];
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 22);
        "WEBPVP8X"u8.CopyTo(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 10);
        var w = width - 1;
        var h = height - 1;
        (bytes[24], bytes[25], bytes[26]) = ((byte)w, (byte)(w >> 8), (byte)(w >> 16));
        (bytes[27], bytes[28], bytes[29]) = ((byte)h, (byte)(h >> 8), (byte)(h >> 16));
        return bytes;
    }

    private static byte[] WebpVp8lDeclaring(int width, int height)
    {
        var bytes = new byte[40];
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 32);
        "WEBPVP8L"u8.CopyTo(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 20);
        bytes[20] = 0x2F;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(21), (uint)((width - 1) | ((height - 1) << 14)));
        return bytes;
    }

    private static byte[] GifScreen(byte[] gif, int width, int height)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(6), (ushort)width);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(8), (ushort)height);
        return gif;
    }

    private static byte[] BmpHeight(int height)
    {
        var bmp = Encoders.Bmp(20, 20, (x, y) => ((byte)x, (byte)y, 7), topDown: false);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        return bmp;
    }

    private static byte[] BmpWidth(int width)
    {
        var bmp = Encoders.Bmp(64, 20, (x, y) => ((byte)x, (byte)y, 7), topDown: false);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        return bmp;
    }

    private static byte[] PngEmptyIdatFirst(int width, int height)
    {
        var real = Encoders.SolidPng(width, height, 1, 2, 3);
        return InsertPngChunk(real, "IDAT", []);
    }

    /// <summary>Inserts a chunk right after IHDR.</summary>
    public static byte[] InsertPngChunk(byte[] png, string type, byte[] data)
    {
        using var chunk = new MemoryStream();
        Encoders.PngChunk(chunk, type, data);
        return [.. png[..33], .. chunk.ToArray(), .. png[33..]];
    }

    // EXIF: APP1 "Exif\0\0" + a big-endian TIFF structure.
    private static byte[] WithExif(byte[] jpeg, byte[] tiff) => WithExifPayload(jpeg, [.. "Exif\0\0"u8, .. tiff]);

    private static byte[] WithExifPayload(byte[] jpeg, byte[] payload) => InsertJpegSegment(jpeg, 0xE1, payload);

    private static byte[] Tiff(uint firstIfd, byte[] ifd) =>
        [(byte)'M', (byte)'M', 0, 42, (byte)(firstIfd >> 24), (byte)(firstIfd >> 16), (byte)(firstIfd >> 8), (byte)firstIfd, .. ifd];

    private static byte[] OrientationIfd(ushort value, ushort type = 3, uint count = 1) => Tiff(8,
    [
        0, 1, 0x01, 0x12, (byte)(type >> 8), (byte)type, (byte)(count >> 24), (byte)(count >> 16), (byte)(count >> 8), (byte)count,
        (byte)(value >> 8), (byte)value, 0, 0, 0, 0, 0, 0,
    ]);

    /// <summary>One IFD (Orientation 6) whose next-IFD offset points back at itself.</summary>
    private static byte[] LoopingIfd() => Tiff(8, [0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 8]);

    /// <summary>An Exif sub-IFD pointer (0x8769) to the IFD that holds it.</summary>
    private static byte[] SubIfdLoop() => Tiff(8, [0, 2, 0x87, 0x69, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0]);

    private static byte[] ExifLengthPastEnd(byte[] jpeg) => [.. jpeg[..2], 0xFF, 0xE1, 0xFF, 0xF0, .. "Exif\0\0"u8, .. jpeg[2..64]];

    /// <summary>A ZIP archive with one stored file, written by hand (local header, central directory, end record).</summary>
    private static byte[] MiniZip()
    {
        var name = "payload.sh"u8.ToArray();
        var content = "#!/bin/sh\necho owned\n"u8.ToArray();
        var crc = Encoders.Crc32(content, []);
        using var o = new MemoryStream();
        var w = new BinaryWriter(o);
        w.Write(0x04034b50u); w.Write((ushort)10); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u);
        w.Write(crc); w.Write(content.Length); w.Write(content.Length); w.Write((ushort)name.Length); w.Write((ushort)0);
        w.Write(name); w.Write(content);
        var central = (int)o.Position;
        w.Write(0x02014b50u); w.Write((ushort)20); w.Write((ushort)10); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u);
        w.Write(crc); w.Write(content.Length); w.Write(content.Length); w.Write((ushort)name.Length);
        w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(0);
        w.Write(name);
        var end = (int)o.Position;
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)1); w.Write((ushort)1);
        w.Write(end - central); w.Write(central); w.Write((ushort)0);
        w.Flush();
        return o.ToArray();
    }
}
