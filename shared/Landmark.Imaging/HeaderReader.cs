using System.Buffers.Binary;

namespace Landmark.Imaging;

/// <summary>What a walk over an image container found.</summary>
public enum ContainerStatus
{
    /// <summary>The structure is well formed as far as it was read.</summary>
    Valid,

    /// <summary>The structure is well formed but the bytes end before it does.</summary>
    Truncated,

    /// <summary>The bytes break the container's structure.</summary>
    Corrupt,

    /// <summary>This reader does not parse the format (HEIF, AVIF) or cannot tell.</summary>
    Unknown,
}

/// <summary>The declared size of an image, or why it could not be read.</summary>
public readonly record struct ContainerHeader(ContainerStatus Status, int Width, int Height, string? Problem = null)
{
    public static ContainerHeader Valid(int width, int height) => new(ContainerStatus.Valid, width, height);

    public static ContainerHeader Truncated(string problem) => new(ContainerStatus.Truncated, 0, 0, problem);

    public static ContainerHeader Corrupt(string problem) => new(ContainerStatus.Corrupt, 0, 0, problem);

    public static readonly ContainerHeader Unknown = new(ContainerStatus.Unknown, 0, 0);
}

/// <summary>
/// Reads container headers and walks container structures without decoding any pixel. The header read refuses
/// decompression bombs (a few bytes declaring 30000×30000 pixels) before a decoder allocates anything; the structure
/// walk tells a file that was cut short (<see cref="ContainerStatus.Truncated"/>) from one whose bytes are damaged
/// (<see cref="ContainerStatus.Corrupt"/>) when the decoder fails. Every method is safe on hostile input: bounds are
/// checked, nothing allocates, and the work is linear in the number of chunks or markers.
/// </summary>
public static class HeaderReader
{
    /// <summary>The declared width and height, when the header is complete and well formed.</summary>
    public static bool TryReadSize(ReadOnlySpan<byte> data, ImageFormat format, out int width, out int height)
    {
        var header = ReadHeader(data, format);
        (width, height) = (header.Width, header.Height);
        return header.Status == ContainerStatus.Valid;
    }

    /// <summary>Reads the declared size from the header (JPEG markers up to the frame header, PNG IHDR, the first
    /// WebP chunk, the GIF screen descriptor up to its first image, the BMP info header).</summary>
    public static ContainerHeader ReadHeader(ReadOnlySpan<byte> data, ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => WalkJpeg(data, headerOnly: true),
        ImageFormat.Png => WalkPng(data, headerOnly: true),
        ImageFormat.Webp => WalkWebp(data, headerOnly: true),
        ImageFormat.Gif => WalkGif(data, headerOnly: true),
        ImageFormat.Bmp => WalkBmp(data, headerOnly: true),
        _ => ContainerHeader.Unknown,
    };

    /// <summary>Walks the whole container (JPEG up to its end-of-image marker, every PNG chunk up to IEND, the RIFF
    /// chunks of a WebP, every GIF block up to the trailer, the BMP file size). Only the structure is checked, not the
    /// compressed data inside it.</summary>
    public static ContainerHeader CheckStructure(ReadOnlySpan<byte> data, ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => WalkJpeg(data, headerOnly: false),
        ImageFormat.Png => WalkPng(data, headerOnly: false),
        ImageFormat.Webp => WalkWebp(data, headerOnly: false),
        ImageFormat.Gif => WalkGif(data, headerOnly: false),
        ImageFormat.Bmp => WalkBmp(data, headerOnly: false),
        _ => ContainerHeader.Unknown,
    };

    /// <summary>Whether a PNG's IHDR declares Adam7 interlacing (decoders then hold the whole image), and its bit depth.</summary>
    public static bool IsInterlacedPng(ReadOnlySpan<byte> data, out int bitDepth)
    {
        bitDepth = data.Length > 24 ? data[24] : 8;
        return data.Length > 28 && data[12..16].SequenceEqual("IHDR"u8) && data[28] == 1;
    }

    /// <summary>Whether a JPEG's frame header is progressive (SOF2, SOF6, SOF10, SOF14: libjpeg then keeps every DCT
    /// coefficient of the image, two bytes per component sample, however small the scaled output), and how many
    /// colour components it declares.</summary>
    public static bool IsProgressiveJpeg(ReadOnlySpan<byte> data, out int components)
    {
        components = 3;
        var i = 2;
        while (i + 4 <= data.Length && data[i] == 0xFF)
        {
            var marker = data[i + 1];
            if (marker == 0xFF)
            {
                i++;
                continue;
            }
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2;
                continue;
            }
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (i + 10 <= data.Length)
                {
                    components = Math.Clamp((int)data[i + 9], 1, 4);
                }
                return marker is 0xC2 or 0xC6 or 0xCA or 0xCE;
            }
            if (marker == 0xDA)
            {
                return false;
            }
            i += 2 + BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
        }
        return false;
    }

    // JPEG: SOI, then marker segments (FF xx, big-endian length that counts itself) up to the first SOS; then
    // entropy-coded data in which FF is always stuffed (FF 00) or a restart/marker, ending with EOI (FF D9).
    private static ContainerHeader WalkJpeg(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (data.Length < 2 || data[0] != 0xFF || data[1] != 0xD8)
        {
            return ContainerHeader.Corrupt("no JPEG start-of-image marker");
        }
        var i = 2;
        var width = -1;
        var height = -1;
        while (true)
        {
            if (i >= data.Length)
            {
                return ContainerHeader.Truncated("the JPEG header ends before the image data");
            }
            if (data[i] != 0xFF)
            {
                return ContainerHeader.Corrupt($"expected a JPEG marker at offset {i}");
            }
            while (i < data.Length && data[i] == 0xFF)
            {
                i++; // fill bytes
            }
            if (i >= data.Length)
            {
                return ContainerHeader.Truncated("the JPEG header ends inside a marker");
            }
            var marker = data[i++];
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // standalone markers
            }
            var known = marker is (>= 0xC0 and <= 0xCF) or (>= 0xE0 and <= 0xEF) or 0xDA or 0xDB or 0xDC or 0xDD or 0xFE;
            if (!known || marker is 0xC8)
            {
                return ContainerHeader.Corrupt($"unexpected JPEG marker at offset {i - 1}");
            }
            if (i + 2 > data.Length)
            {
                return ContainerHeader.Truncated("the JPEG header ends inside a segment length");
            }
            var length = BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
            if (length < 2)
            {
                return ContainerHeader.Corrupt($"JPEG segment 0x{marker:X2} has length {length}");
            }
            var present = data.Slice(i + 2, Math.Min(length - 2, data.Length - (i + 2)));
            if (!PlausibleJpegSegment(marker, length, present))
            {
                return ContainerHeader.Corrupt($"JPEG segment 0x{marker:X2} at offset {i - 2} does not look like one");
            }
            var isFrame = marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xCC;
            if (isFrame)
            {
                if (length < 8)
                {
                    return ContainerHeader.Corrupt($"JPEG frame header has length {length}");
                }
                if (i + 8 > data.Length)
                {
                    return ContainerHeader.Truncated("the JPEG frame header is incomplete");
                }
                if (width >= 0)
                {
                    return ContainerHeader.Corrupt("the JPEG has two frame headers");
                }
                height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 3)..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                var components = data[i + 7];
                if (components is 0 or > 4)
                {
                    return ContainerHeader.Corrupt($"the JPEG frame declares {components} colour components");
                }
                if (headerOnly)
                {
                    return ContainerHeader.Valid(width, height);
                }
            }
            if (marker == 0xDA)
            {
                if (width < 0)
                {
                    return ContainerHeader.Corrupt("the JPEG image data starts before its frame header");
                }
                if (i + length > data.Length)
                {
                    return ContainerHeader.Truncated("the JPEG scan header is incomplete");
                }
                // FF D9 cannot occur inside entropy-coded data (every FF there is stuffed or a marker).
                return data[(i + length)..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0
                    ? ContainerHeader.Valid(width, height)
                    : ContainerHeader.Truncated("the JPEG image data has no end-of-image marker");
            }
            if (i + length > data.Length)
            {
                return ContainerHeader.Truncated($"JPEG segment 0x{marker:X2} ends after the data");
            }
            i += length;
        }
    }

    /// <summary>Whether a segment's length and the payload bytes present could belong to a real JPEG. Random bytes
    /// after FF D8 FF almost never pass, so a decoder that runs out of data on them is not mistaken for a cut file.</summary>
    private static bool PlausibleJpegSegment(byte marker, int length, ReadOnlySpan<byte> payload)
    {
        switch (marker)
        {
            case >= 0xE0 and <= 0xEF:
                // APPn payloads start with a NUL-terminated ASCII identifier: "JFIF", "Exif", "ICC_PROFILE", "MPF",
                // "http://ns.adobe.com/xap/1.0/", "Photoshop 3.0", "Adobe", "Ducky"...
                for (var k = 0; k < Math.Min(payload.Length, 40); k++)
                {
                    if (payload[k] == 0)
                    {
                        return k > 0;
                    }
                    if (payload[k] is < 0x20 or > 0x7E)
                    {
                        return false;
                    }
                }
                return payload.Length < 40;
            case 0xFE: // comment: text
                return payload.IsEmpty || payload[0] is (>= 0x20 and <= 0x7E) or 0x09 or 0x0A or 0x0D;
            case 0xDB: // quantisation tables: 8- or 16-bit, table 0..3, 64 entries each
                return length >= 2 + 65 && (payload.IsEmpty || (payload[0] >> 4 <= 1 && (payload[0] & 0xF) <= 3));
            case 0xC4: // Huffman tables: class 0..1, table 0..3, 16 counts
                return length >= 2 + 17 && (payload.IsEmpty || (payload[0] >> 4 <= 1 && (payload[0] & 0xF) <= 3));
            case 0xCC: // arithmetic conditioning
                return (length - 2) % 2 == 0;
            case 0xDD or 0xDC: // restart interval, number of lines
                return length == 4;
            case 0xDA: // scan header: 1..4 components, two bytes each, plus four
                return payload.IsEmpty || (payload[0] is >= 1 and <= 4 && length == 6 + (2 * payload[0]));
            default: // frame headers
                return payload.IsEmpty || payload[0] is 8 or 12 or 16;
        }
    }

    // PNG: signature, then chunks (big-endian length, four ASCII letters, data, CRC); IHDR first, IEND last.
    private static ContainerHeader WalkPng(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (data.Length < 8)
        {
            return ContainerHeader.Truncated("the PNG signature is incomplete");
        }
        var i = 8;
        var width = 0;
        var height = 0;
        while (true)
        {
            if (i + 8 > data.Length)
            {
                return ContainerHeader.Truncated(i == data.Length ? "the PNG ends without an IEND chunk" : "the PNG ends inside a chunk header");
            }
            var length = BinaryPrimitives.ReadUInt32BigEndian(data[i..]);
            var type = data.Slice(i + 4, 4);
            if (length > int.MaxValue || !IsAsciiLetters(type))
            {
                return ContainerHeader.Corrupt($"invalid PNG chunk header at offset {i}");
            }
            if (i == 8)
            {
                if (!type.SequenceEqual("IHDR"u8) || length != 13)
                {
                    return ContainerHeader.Corrupt("the PNG does not start with an IHDR chunk");
                }
                if (i + 8 + 13 + 4 > data.Length)
                {
                    return ContainerHeader.Truncated("the PNG IHDR chunk is incomplete");
                }
                var ihdr = data.Slice(i + 4, 4 + 13);
                if (Crc32(ihdr) != BinaryPrimitives.ReadUInt32BigEndian(data[(i + 8 + 13)..]))
                {
                    return ContainerHeader.Corrupt("the PNG IHDR checksum does not match");
                }
                var w = BinaryPrimitives.ReadUInt32BigEndian(data[(i + 8)..]);
                var h = BinaryPrimitives.ReadUInt32BigEndian(data[(i + 12)..]);
                if (w is 0 or > int.MaxValue || h is 0 or > int.MaxValue)
                {
                    return ContainerHeader.Corrupt($"the PNG declares {w}×{h} pixels");
                }
                (width, height) = ((int)w, (int)h);
                if (headerOnly)
                {
                    return ContainerHeader.Valid(width, height);
                }
            }
            if ((long)i + 12 + length > data.Length)
            {
                return ContainerHeader.Truncated($"the PNG chunk {System.Text.Encoding.ASCII.GetString(type)} ends after the data");
            }
            if (type.SequenceEqual("IEND"u8))
            {
                return ContainerHeader.Valid(width, height);
            }
            i += 12 + (int)length;
        }
    }

    // WebP: "RIFF", little-endian size of what follows, "WEBP", then chunks (fourcc, little-endian size, data padded
    // to even). The first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended, with the canvas size).
    private static ContainerHeader WalkWebp(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (data.Length < 20)
        {
            return ContainerHeader.Truncated("the WebP header is incomplete");
        }
        var fourcc = data[12..16];
        int width, height;
        if (fourcc.SequenceEqual("VP8X"u8))
        {
            if (data.Length < 30)
            {
                return ContainerHeader.Truncated("the WebP VP8X chunk is incomplete");
            }
            width = 1 + (data[24] | (data[25] << 8) | (data[26] << 16));
            height = 1 + (data[27] | (data[28] << 8) | (data[29] << 16));
        }
        else if (fourcc.SequenceEqual("VP8L"u8))
        {
            if (data.Length < 25)
            {
                return ContainerHeader.Truncated("the WebP VP8L header is incomplete");
            }
            if (data[20] != 0x2F)
            {
                return ContainerHeader.Corrupt("the WebP VP8L signature is missing");
            }
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
            width = 1 + (int)(bits & 0x3FFF);
            height = 1 + (int)((bits >> 14) & 0x3FFF);
        }
        else if (fourcc.SequenceEqual("VP8 "u8))
        {
            if (data.Length < 30)
            {
                return ContainerHeader.Truncated("the WebP VP8 header is incomplete");
            }
            if (data[23] != 0x9D || data[24] != 0x01 || data[25] != 0x2A)
            {
                return ContainerHeader.Corrupt("the WebP VP8 start code is missing");
            }
            width = BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF;
            height = BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF;
        }
        else
        {
            return ContainerHeader.Corrupt($"unknown first WebP chunk at offset 12");
        }
        if (headerOnly)
        {
            return ContainerHeader.Valid(width, height);
        }
        var riffSize = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
        if (riffSize < 12)
        {
            return ContainerHeader.Corrupt($"the RIFF size {riffSize} is too small");
        }
        var end = (int)Math.Min(data.Length, 8L + riffSize);
        var i = 12;
        while (i < end)
        {
            if (i + 8 > end)
            {
                return ContainerHeader.Truncated("the WebP ends inside a chunk header");
            }
            if (!IsPrintableAscii(data.Slice(i, 4)))
            {
                return ContainerHeader.Corrupt($"invalid WebP chunk at offset {i}");
            }
            var size = BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]);
            if (i + 8L + size > end)
            {
                return ContainerHeader.Truncated("a WebP chunk ends after the data");
            }
            i += 8 + (int)size + (int)(size & 1);
        }
        return 8L + riffSize > data.Length
            ? ContainerHeader.Truncated($"the RIFF header declares {8L + riffSize} bytes, the file has {data.Length}")
            : ContainerHeader.Valid(width, height);
    }

    // GIF: signature, logical screen descriptor (7 bytes), optional global colour table, then blocks: extensions (21),
    // images (2C, descriptor, optional local table, LZW code size, data sub-blocks) and the trailer (3B).
    private static ContainerHeader WalkGif(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (data.Length < 13)
        {
            return ContainerHeader.Truncated("the GIF screen descriptor is incomplete");
        }
        var width = BinaryPrimitives.ReadUInt16LittleEndian(data[6..]);
        var height = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
        var i = 13 + ColorTableSize(data[10]);
        var images = 0;
        while (true)
        {
            if (i >= data.Length)
            {
                return ContainerHeader.Truncated(images == 0 ? "the GIF ends before its first image" : "the GIF ends without a trailer");
            }
            switch (data[i])
            {
                case 0x3B:
                    return images == 0 ? ContainerHeader.Corrupt("the GIF has no image") : ContainerHeader.Valid(width, height);
                case 0x21:
                    if (i + 2 > data.Length)
                    {
                        return ContainerHeader.Truncated("the GIF ends inside an extension");
                    }
                    i = SkipSubBlocks(data, i + 2);
                    break;
                case 0x2C:
                    if (headerOnly)
                    {
                        return ContainerHeader.Valid(width, height);
                    }
                    if (i + 11 > data.Length)
                    {
                        return ContainerHeader.Truncated("the GIF ends inside an image descriptor");
                    }
                    i += 10 + ColorTableSize(data[i + 9]);
                    if (i >= data.Length)
                    {
                        return ContainerHeader.Truncated("the GIF ends inside an image");
                    }
                    if (data[i] is 0 or > 12)
                    {
                        return ContainerHeader.Corrupt($"the GIF LZW code size is {data[i]}");
                    }
                    i = SkipSubBlocks(data, i + 1);
                    images++;
                    break;
                default:
                    return ContainerHeader.Corrupt($"unexpected GIF block at offset {i}");
            }
            if (i < 0)
            {
                return ContainerHeader.Truncated("the GIF ends inside a data block");
            }
        }

        static int ColorTableSize(byte packed) => (packed & 0x80) != 0 ? 3 << ((packed & 7) + 1) : 0;

        // Returns the offset after the terminating zero-length sub-block, or -1 if the data ends first.
        static int SkipSubBlocks(ReadOnlySpan<byte> data, int i)
        {
            while (i < data.Length)
            {
                var n = data[i];
                i += 1 + n;
                if (n == 0)
                {
                    return i;
                }
            }
            return -1;
        }
    }

    // BMP: 14-byte file header (BM, file size, reserved, pixel offset) and an info header whose size tells its layout.
    private static ContainerHeader WalkBmp(ReadOnlySpan<byte> data, bool headerOnly)
    {
        if (data.Length < 26)
        {
            return ContainerHeader.Truncated("the BMP header is incomplete");
        }
        var infoSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        int width, height;
        if (infoSize == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(data[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(data[20..]);
            if (BinaryPrimitives.ReadUInt16LittleEndian(data[22..]) != 1)
            {
                return ContainerHeader.Corrupt("the BMP declares more than one plane");
            }
        }
        else if (infoSize is 40 or 52 or 56 or 64 or 108 or 124)
        {
            if (data.Length < 30)
            {
                return ContainerHeader.Truncated("the BMP info header is incomplete");
            }
            var w = BinaryPrimitives.ReadInt32LittleEndian(data[18..]);
            var h = (long)BinaryPrimitives.ReadInt32LittleEndian(data[22..]); // negative: stored top-down
            if (w <= 0 || h == 0 || BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) != 1)
            {
                return ContainerHeader.Corrupt($"the BMP info header is invalid ({w}×{h})");
            }
            width = w;
            height = (int)Math.Min(Math.Abs(h), int.MaxValue);
        }
        else
        {
            return ContainerHeader.Corrupt($"unknown BMP info header size {infoSize}");
        }
        if (headerOnly)
        {
            return ContainerHeader.Valid(width, height);
        }
        var fileSize = BinaryPrimitives.ReadUInt32LittleEndian(data[2..]);
        var pixelOffset = BinaryPrimitives.ReadUInt32LittleEndian(data[10..]);
        return pixelOffset >= data.Length || (fileSize > data.Length && fileSize < 1u << 31)
            ? ContainerHeader.Truncated($"the BMP header declares {fileSize} bytes, the file has {data.Length}")
            : ContainerHeader.Valid(width, height);
    }

    private static bool IsAsciiLetters(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (!char.IsAsciiLetter((char)b))
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsPrintableAscii(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E)
            {
                return false;
            }
        }
        return true;
    }

    private static readonly uint[] CrcTable = BuildCrcTable();

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[n] = c;
        }
        return table;
    }

    /// <summary>The CRC-32 that PNG chunks carry (ISO 3309).</summary>
    internal static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        }
        return c ^ 0xFFFFFFFFu;
    }
}
