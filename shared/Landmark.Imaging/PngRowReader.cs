using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace Landmark.Imaging;

/// <summary>
/// Decodes a non-interlaced 8-bit PNG a few rows at a time (inflate, unfilter, expand to RGBA), for the streamed
/// decode: this SkiaSharp build's PNG codec has no scanline mode, and a whole 8,900×8,900 PNG is 317 MB of pixels.
/// It holds two rows and the inflater's window. Only what it reproduces exactly as Skia decodes it is accepted by
/// <see cref="TryOpen"/>: bit depth 8 (1–8 for palettes), colour types 0, 2, 3, 4 and 6, no colour-space chunks
/// (iCCP, gAMA, cHRM, cICP: Skia converts those to sRGB), no interlacing. Everything else goes to Skia.
/// Premultiplies like Skia's swizzler (rounded c·a/255). Chunk checksums are verified as libpng does.
/// </summary>
internal sealed class PngRowReader : IDisposable
{
    private readonly int _width;
    private readonly int _height;
    private readonly int _colorType;
    private readonly int _bitDepth;
    private readonly int _bytesPerPixel;
    private readonly int _stride;
    private readonly bool _premultiply;
    private readonly byte[]? _palette;      // RGBA per entry, premultiplied when needed
    private readonly int[]? _transparent;   // tRNS colour of grey/RGB images
    private readonly ZLibStream _inflater;
    private byte[] _current;
    private byte[] _previous;
    private int _row;

    private PngRowReader(ReadOnlyMemory<byte> idat, int width, int height, int colorType, int bitDepth, byte[]? palette,
        int[]? transparent, bool premultiply)
    {
        _width = width;
        _height = height;
        _colorType = colorType;
        _bitDepth = bitDepth;
        _premultiply = premultiply;
        _transparent = transparent;
        var channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        _bytesPerPixel = Math.Max(1, channels * bitDepth / 8);
        _stride = (int)(((long)width * channels * bitDepth + 7) / 8);
        _current = ArrayPool<byte>.Shared.Rent(_stride + 1);
        _previous = ArrayPool<byte>.Shared.Rent(_stride + 1);
        Array.Clear(_previous);
        _palette = palette;
        _inflater = new ZLibStream(new IdatStream(idat), CompressionMode.Decompress);
    }

    /// <summary>Bytes copied to join several IDAT chunks (0 for one chunk).</summary>
    public long CompressedCopyBytes { get; private init; }

    /// <summary>Why the data could not be decoded, when it could not: null, "corrupt" or "truncated".</summary>
    public string? Failure { get; private set; }

    /// <summary>A reader for <paramref name="data"/>, or null when this PNG is one for Skia (see the class summary).
    /// <paramref name="bad"/> is set (and null returned) when a chunk checksum does not match.</summary>
    public static PngRowReader? TryOpen(ReadOnlyMemory<byte> data, bool premultiply, out string? bad)
    {
        bad = null;
        var span = data.Span;
        if (span.Length < 33 || !span[12..16].SequenceEqual("IHDR"u8))
        {
            return null;
        }
        var width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(span[16..]), int.MaxValue);
        var height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(span[20..]), int.MaxValue);
        int bitDepth = span[24], colorType = span[25], interlace = span[28];
        var supported = interlace == 0 && span[26] == 0 && span[27] == 0
            && (colorType == 3 ? bitDepth is 1 or 2 or 4 or 8 : bitDepth == 8 && colorType is 0 or 2 or 4 or 6);
        if (!supported || width < 1 || height < 1)
        {
            return null;
        }

        byte[]? plte = null;
        byte[]? trns = null;
        var segments = new List<ReadOnlyMemory<byte>>();
        var i = 8;
        while (i + 8 <= span.Length)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(span[i..]);
            var type = span.Slice(i + 4, 4);
            if (length > int.MaxValue - 12 || (long)i + 12 + length > span.Length)
            {
                if (type.SequenceEqual("IDAT"u8))
                {
                    // The last chunk is cut short: decode what is there; the rows will run out.
                    segments.Add(data.Slice(i + 8, Math.Max(0, span.Length - (i + 8))));
                }
                break;
            }
            var body = span.Slice(i + 8, (int)length);
            var critical = (type[0] & 0x20) == 0 || type.SequenceEqual("tRNS"u8);
            if (critical && HeaderReader.Crc32(span.Slice(i + 4, 4 + (int)length)) != BinaryPrimitives.ReadUInt32BigEndian(span[(i + 8 + (int)length)..]))
            {
                bad = $"the PNG {System.Text.Encoding.ASCII.GetString(type)} chunk checksum does not match";
                return null;
            }
            if (type.SequenceEqual("iCCP"u8) || type.SequenceEqual("gAMA"u8) || type.SequenceEqual("cHRM"u8) || type.SequenceEqual("cICP"u8)
                || type.SequenceEqual("acTL"u8))
            {
                return null; // colour management or animation: Skia's
            }
            if (type.SequenceEqual("PLTE"u8))
            {
                plte = body.ToArray();
            }
            else if (type.SequenceEqual("tRNS"u8))
            {
                trns = body.ToArray();
            }
            else if (type.SequenceEqual("IDAT"u8))
            {
                segments.Add(data.Slice(i + 8, (int)length));
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                break;
            }
            i += 12 + (int)length;
        }
        if (segments.Count == 0 || (colorType == 3 && plte is null))
        {
            return null; // Skia's verdict on these
        }

        byte[]? palette = null;
        if (colorType == 3)
        {
            palette = new byte[256 * 4];
            var entries = Math.Min(256, plte!.Length / 3);
            for (var e = 0; e < 256; e++)
            {
                palette[(4 * e) + 3] = 255; // black, unless a last entry pads the table (as Skia does)
            }
            for (var e = 0; e < entries; e++)
            {
                byte a = trns is not null && e < trns.Length ? trns[e] : (byte)255;
                var (r, g, b) = (plte[3 * e], plte[(3 * e) + 1], plte[(3 * e) + 2]);
                palette[4 * e] = premultiply ? Premul(r, a) : r;
                palette[(4 * e) + 1] = premultiply ? Premul(g, a) : g;
                palette[(4 * e) + 2] = premultiply ? Premul(b, a) : b;
                palette[(4 * e) + 3] = a;
            }
            for (var e = entries; e < 256 && entries > 0; e++)
            {
                palette.AsSpan(4 * (entries - 1), 4).CopyTo(palette.AsSpan(4 * e, 4));
            }
        }
        int[]? transparent = null;
        if (trns is not null && colorType is 0 or 2 && trns.Length >= (colorType == 0 ? 2 : 6))
        {
            transparent = colorType == 0
                ? [BinaryPrimitives.ReadUInt16BigEndian(trns)]
                : [BinaryPrimitives.ReadUInt16BigEndian(trns), BinaryPrimitives.ReadUInt16BigEndian(trns.AsSpan(2)), BinaryPrimitives.ReadUInt16BigEndian(trns.AsSpan(4))];
        }
        var idat = segments.Count == 1 ? segments[0] : Concat(segments);
        return new PngRowReader(idat, width, height, colorType, bitDepth, palette, transparent, premultiply)
        {
            CompressedCopyBytes = segments.Count == 1 ? 0 : idat.Length,
        };
    }

    private static ReadOnlyMemory<byte> Concat(List<ReadOnlyMemory<byte>> segments)
    {
        // Compressed data only (a few hundred kB for a huge flat image): copied once into one buffer.
        var total = segments.Sum(s => (long)s.Length);
        var all = new byte[total];
        var o = 0;
        foreach (var s in segments)
        {
            s.Span.CopyTo(all.AsSpan(o));
            o += s.Length;
        }
        return all;
    }

    /// <summary>Decodes the next <paramref name="rows"/> rows as RGBA into <paramref name="destination"/>; returns how
    /// many it decoded (fewer when the data ends or is damaged: see <see cref="Failure"/>).</summary>
    public unsafe int ReadRows(IntPtr destination, int rows, int rowBytes)
    {
        for (var r = 0; r < rows; r++)
        {
            if (_row >= _height || !ReadRow())
            {
                return r;
            }
            Expand(new Span<byte>((byte*)destination + ((long)r * rowBytes), 4 * _width));
            _row++;
        }
        return rows;
    }

    private bool ReadRow()
    {
        (_current, _previous) = (_previous, _current);
        var line = _current.AsSpan(0, _stride + 1);
        try
        {
            var read = 0;
            while (read < line.Length)
            {
                var n = _inflater.Read(line[read..]);
                if (n == 0)
                {
                    Failure = "truncated";
                    return false;
                }
                read += n;
            }
        }
        catch (InvalidDataException)
        {
            Failure = "corrupt";
            return false;
        }
        var filter = line[0];
        var cur = line[1..];
        var prev = _previous.AsSpan(1, _stride);
        var bpp = _bytesPerPixel;
        switch (filter)
        {
            case 0:
                break;
            case 1:
                for (var x = bpp; x < cur.Length; x++)
                {
                    cur[x] += cur[x - bpp];
                }
                break;
            case 2:
                for (var x = 0; x < cur.Length; x++)
                {
                    cur[x] += prev[x];
                }
                break;
            case 3:
                for (var x = 0; x < cur.Length; x++)
                {
                    cur[x] += (byte)(((x >= bpp ? cur[x - bpp] : 0) + prev[x]) >> 1);
                }
                break;
            case 4:
                for (var x = 0; x < cur.Length; x++)
                {
                    int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    cur[x] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
            default:
                Failure = "corrupt";
                return false;
        }
        return true;
    }

    private void Expand(Span<byte> rgba)
    {
        var src = _current.AsSpan(1, _stride);
        switch (_colorType)
        {
            case 6:
                for (int x = 0, s = 0; x < _width; x++, s += 4)
                {
                    var a = src[s + 3];
                    Put(rgba, x, src[s], src[s + 1], src[s + 2], a);
                }
                break;
            case 2:
                for (int x = 0, s = 0; x < _width; x++, s += 3)
                {
                    var a = _transparent is { } t && src[s] == t[0] && src[s + 1] == t[1] && src[s + 2] == t[2] ? (byte)0 : (byte)255;
                    Put(rgba, x, src[s], src[s + 1], src[s + 2], a);
                }
                break;
            case 0:
                for (var x = 0; x < _width; x++)
                {
                    var g = src[x];
                    Put(rgba, x, g, g, g, _transparent is { } t && g == t[0] ? (byte)0 : (byte)255);
                }
                break;
            case 4:
                for (int x = 0, s = 0; x < _width; x++, s += 2)
                {
                    Put(rgba, x, src[s], src[s], src[s], src[s + 1]);
                }
                break;
            default:
                var perByte = 8 / _bitDepth;
                var mask = (1 << _bitDepth) - 1;
                for (var x = 0; x < _width; x++)
                {
                    var index = (src[x / perByte] >> ((perByte - 1 - (x % perByte)) * _bitDepth)) & mask;
                    _palette.AsSpan(4 * index, 4).CopyTo(rgba.Slice(4 * x, 4)); // already premultiplied
                }
                break;
        }
    }

    private void Put(Span<byte> rgba, int x, byte r, byte g, byte b, byte a)
    {
        var p = rgba.Slice(4 * x, 4);
        if (_premultiply && a != 255)
        {
            (p[0], p[1], p[2], p[3]) = (Premul(r, a), Premul(g, a), Premul(b, a), a);
        }
        else
        {
            (p[0], p[1], p[2], p[3]) = (r, g, b, a);
        }
    }

    /// <summary>c·a/255 rounded, as Skia's swizzler premultiplies.</summary>
    private static byte Premul(byte c, byte a)
    {
        var prod = (c * a) + 128;
        return (byte)((prod + (prod >> 8)) >> 8);
    }

    public void Dispose()
    {
        _inflater.Dispose();
        ArrayPool<byte>.Shared.Return(_current);
        ArrayPool<byte>.Shared.Return(_previous);
    }

    /// <summary>The IDAT payload as a read-only stream over memory the caller keeps alive (pinned encoded bytes).</summary>
    private sealed class IdatStream(ReadOnlyMemory<byte> data) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, data.Length - _position);
            data.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
