using System.Buffers.Binary;

namespace Landmark.Imaging;

/// <summary>
/// Reads the declared pixel size from a container header without decoding, so decompression bombs (a few bytes that
/// declare 30000×30000 pixels) are refused before any decoder allocates anything.
/// </summary>
public static class HeaderReader
{
    public static bool TryReadSize(ReadOnlySpan<byte> data, ImageFormat format, out int width, out int height)
    {
        width = height = 0;
        switch (format)
        {
            case ImageFormat.Png when data.Length >= 24 && data[12..16].SequenceEqual("IHDR"u8):
                width = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(data[16..]));
                height = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(data[20..]));
                return true;
            case ImageFormat.Gif when data.Length >= 10:
                width = BinaryPrimitives.ReadUInt16LittleEndian(data[6..]);
                height = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
                return true;
            case ImageFormat.Bmp when data.Length >= 26:
                width = Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(data[18..]));
                height = Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(data[22..]));
                return true;
            case ImageFormat.Webp:
                return TryReadWebp(data, out width, out height);
            case ImageFormat.Jpeg:
                return TryReadJpeg(data, out width, out height);
            default:
                return false;
        }
    }

    private static bool TryReadWebp(ReadOnlySpan<byte> data, out int width, out int height)
    {
        width = height = 0;
        if (data.Length < 30)
        {
            return false;
        }
        var chunk = data[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
        {
            width = 1 + (data[24] | (data[25] << 8) | (data[26] << 16));
            height = 1 + (data[27] | (data[28] << 8) | (data[29] << 16));
            return true;
        }
        if (chunk.SequenceEqual("VP8L"u8) && data[20] == 0x2F)
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
            width = 1 + (int)(bits & 0x3FFF);
            height = 1 + (int)((bits >> 14) & 0x3FFF);
            return true;
        }
        if (chunk.SequenceEqual("VP8 "u8) && data[23] == 0x9D && data[24] == 0x01 && data[25] == 0x2A)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF;
            height = BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF;
            return true;
        }
        return false;
    }

    private static bool TryReadJpeg(ReadOnlySpan<byte> data, out int width, out int height)
    {
        width = height = 0;
        var i = 2;
        while (i + 9 < data.Length)
        {
            if (data[i] != 0xFF)
            {
                return false;
            }
            var marker = data[i + 1];
            if (marker == 0xFF)
            {
                i++;
                continue;
            }
            if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2;
                continue;
            }
            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                return true;
            }
            if (length < 2)
            {
                return false;
            }
            i += 2 + length;
        }
        return false;
    }
}
