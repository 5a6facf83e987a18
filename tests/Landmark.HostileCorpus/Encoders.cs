using System.Buffers.Binary;
using System.IO.Compression;

namespace Landmark.HostileCorpus;

/// <summary>Minimal hand-written encoders, so the corpus can hold what SkiaSharp cannot write (interlaced PNG, GIF,
/// progressive, CMYK and 12-bit JPEG) and huge images without ever holding their pixels.</summary>
public static class Encoders
{
    // ---------------------------------------------------------------- PNG

    /// <summary>A PNG (8-bit RGB) whose rows come from <paramref name="row"/> (3·width bytes for row y), deflated as
    /// they are made: an 8,900×8,900 image never exists in memory. Adam7 interlacing when asked.</summary>
    public static byte[] Png(int width, int height, Action<int, byte[]> row, bool interlaced = false)
    {
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var full = new byte[3 * width];
            var previous = new byte[3 * width];
            if (!interlaced)
            {
                for (var y = 0; y < height; y++)
                {
                    row(y, full);
                    // Filter "Up" (2): a row equal to the one above is all zeros, which deflates to almost nothing.
                    z.WriteByte(y == 0 ? (byte)0 : (byte)2);
                    for (var i = 0; i < full.Length; i++)
                    {
                        z.WriteByte((byte)(full[i] - (y == 0 ? 0 : previous[i])));
                    }
                    (full, previous) = (previous, full);
                }
            }
            else
            {
                ReadOnlySpan<(int X0, int Y0, int Dx, int Dy)> passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
                foreach (var (x0, y0, dx, dy) in passes)
                {
                    if (x0 >= width || y0 >= height)
                    {
                        continue;
                    }
                    for (var y = y0; y < height; y += dy)
                    {
                        row(y, full);
                        z.WriteByte(0);
                        for (var x = x0; x < width; x += dx)
                        {
                            z.Write(full, 3 * x, 3);
                        }
                    }
                }
            }
        }
        return PngContainer(width, height, idat.ToArray(), interlaced);
    }

    /// <summary>An 8-bit palette PNG (colour type 3) of a pattern over <paramref name="entries"/> colours, the first
    /// <paramref name="translucent"/> of them given alpha by a tRNS chunk.</summary>
    public static byte[] PalettePng(int width, int height, int entries = 200, int translucent = 0)
    {
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
        {
            for (var y = 0; y < height; y++)
            {
                z.WriteByte(0);
                for (var x = 0; x < width; x++)
                {
                    z.WriteByte((byte)(((x / 3) + (y / 5)) % entries));
                }
            }
        }
        var plte = new byte[3 * entries];
        for (var e = 0; e < entries; e++)
        {
            (plte[3 * e], plte[(3 * e) + 1], plte[(3 * e) + 2]) = ((byte)(e * 5), (byte)(255 - e), (byte)(e * 37));
        }
        var trns = Enumerable.Range(0, translucent).Select(e => (byte)(e * 255 / Math.Max(1, translucent - 1))).ToArray();
        using var o = new MemoryStream();
        o.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        (ihdr[8], ihdr[9]) = (8, 3);
        PngChunk(o, "IHDR", ihdr);
        PngChunk(o, "PLTE", plte);
        if (translucent > 0)
        {
            PngChunk(o, "tRNS", trns);
        }
        // Split the data over several IDAT chunks, as encoders do.
        var data = idat.ToArray();
        for (var i = 0; i < data.Length; i += 8192)
        {
            PngChunk(o, "IDAT", data.AsSpan(i, Math.Min(8192, data.Length - i)));
        }
        PngChunk(o, "IEND", []);
        return o.ToArray();
    }

    /// <summary>A solid-colour PNG of any size (a few hundred kB for 8,900×8,900).</summary>
    public static byte[] SolidPng(int width, int height, byte r, byte g, byte b) =>
        Png(width, height, (_, row) =>
        {
            for (var x = 0; x < width; x++)
            {
                (row[3 * x], row[(3 * x) + 1], row[(3 * x) + 2]) = (r, g, b);
            }
        });

    /// <summary>Signature, IHDR (8-bit RGB), the given IDAT payload in one chunk (or none when null), IEND.</summary>
    public static byte[] PngContainer(long width, long height, byte[]? idat, bool interlaced = false, params (string Type, byte[] Data)[] extraBeforeIdat)
    {
        using var o = new MemoryStream();
        o.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        (ihdr[8], ihdr[9], ihdr[12]) = (8, 2, interlaced ? (byte)1 : (byte)0);
        PngChunk(o, "IHDR", ihdr);
        foreach (var (type, data) in extraBeforeIdat)
        {
            PngChunk(o, type, data);
        }
        if (idat is not null)
        {
            PngChunk(o, "IDAT", idat);
        }
        PngChunk(o, "IEND", []);
        return o.ToArray();
    }

    public static void PngChunk(Stream o, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head[4..]);
        o.Write(head);
        o.Write(data);
        var crc = Crc32(head[4..], data);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        o.Write(tail);
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return c;
    }).ToArray();

    public static uint Crc32(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var c = 0xFFFFFFFFu;
        foreach (var x in a)
        {
            c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        }
        foreach (var x in b)
        {
            c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        }
        return c ^ 0xFFFFFFFFu;
    }

    // ---------------------------------------------------------------- GIF

    /// <summary>A GIF with a 256-entry palette (<paramref name="palette"/>(i) = RGB of entry i) whose pixels come from
    /// <paramref name="index"/>(x, y), LZW-compressed properly (variable code width), so a solid 8,000×8,000 GIF is
    /// tens of kB. <paramref name="frameWidth"/>/<paramref name="frameHeight"/> override the image descriptor's size
    /// (zero-length frames) while the screen keeps width×height.</summary>
    public static byte[] Gif(int width, int height, Func<int, int, byte> index, Func<int, (byte R, byte G, byte B)> palette,
        int? frameWidth = null, int? frameHeight = null)
    {
        var fw = frameWidth ?? width;
        var fh = frameHeight ?? height;
        using var o = new MemoryStream();
        o.Write("GIF89a"u8);
        Span<byte> screen = [(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0xF7, 0, 0];
        o.Write(screen);
        for (var i = 0; i < 256; i++)
        {
            var (r, g, b) = palette(i);
            o.Write([r, g, b]);
        }
        o.Write([0x2C, 0, 0, 0, 0, (byte)fw, (byte)(fw >> 8), (byte)fh, (byte)(fh >> 8), 0, 8]);
        var lzw = Lzw(8, (long)fw * fh, p => index((int)(p % Math.Max(1, fw)), (int)(p / Math.Max(1, fw))));
        for (var i = 0; i < lzw.Length; i += 255)
        {
            var n = Math.Min(255, lzw.Length - i);
            o.WriteByte((byte)n);
            o.Write(lzw, i, n);
        }
        o.WriteByte(0);
        o.WriteByte(0x3B);
        return o.ToArray();
    }

    /// <summary>GIF LZW: clear code first, codes grow from minCodeSize+1 to 12 bits, the table is cleared when full.</summary>
    private static byte[] Lzw(int minCodeSize, long count, Func<long, byte> pixel)
    {
        var clear = 1 << minCodeSize;
        var end = clear + 1;
        var next = new int[4096 * 256];
        var output = new List<byte>();
        var bitBuffer = 0L;
        var bitCount = 0;
        var codeSize = minCodeSize + 1;
        var nextCode = end + 1;

        void Emit(int code)
        {
            bitBuffer |= (long)code << bitCount;
            bitCount += codeSize;
            while (bitCount >= 8)
            {
                output.Add((byte)bitBuffer);
                bitBuffer >>= 8;
                bitCount -= 8;
            }
        }

        Emit(clear);
        if (count == 0)
        {
            Emit(end);
            if (bitCount > 0)
            {
                output.Add((byte)bitBuffer);
            }
            return output.ToArray();
        }
        var prefix = (int)pixel(0);
        for (long p = 1; p < count; p++)
        {
            var k = pixel(p);
            var slot = (prefix * 256) + k;
            if (next[slot] != 0)
            {
                prefix = next[slot];
                continue;
            }
            Emit(prefix);
            if (nextCode < 4096)
            {
                next[slot] = nextCode++;
                if (nextCode > (1 << codeSize) && codeSize < 12)
                {
                    codeSize++;
                }
            }
            else
            {
                Emit(clear);
                Array.Clear(next);
                codeSize = minCodeSize + 1;
                nextCode = end + 1;
            }
            prefix = k;
        }
        Emit(prefix);
        Emit(end);
        if (bitCount > 0)
        {
            output.Add((byte)bitBuffer);
        }
        return output.ToArray();
    }

    // ---------------------------------------------------------------- BMP

    /// <summary>A 24-bit BMP whose pixels come from <paramref name="rgb"/>(x, y); stored bottom-up (positive height) or
    /// top-down (negative height).</summary>
    public static byte[] Bmp(int width, int height, Func<int, int, (byte R, byte G, byte B)> rgb, bool topDown)
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
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(22), topDown ? -height : height);
        BinaryPrimitives.WriteInt16LittleEndian(o.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(o.AsSpan(28), 24);
        for (var y = 0; y < height; y++)
        {
            var stored = topDown ? y : height - 1 - y;
            for (var x = 0; x < width; x++)
            {
                var (r, g, b) = rgb(x, y);
                var p = 54 + (stored * row) + (x * 3);
                (o[p], o[p + 1], o[p + 2]) = (b, g, r);
            }
        }
        return o;
    }

    // ---------------------------------------------------------------- JPEG

    /// <summary>A flat-colour JPEG written by hand: every 8×8 block is its DC coefficient and an end-of-block, so any
    /// size costs a few bits per block. <paramref name="components"/> 1 (grey), 3 (YCbCr) or 4 (CMYK, with an Adobe
    /// APP14 marker); <paramref name="precision"/> 8 or 12 (SOF1); <paramref name="progressive"/> writes SOF2 with a DC
    /// scan and one AC scan per component (libjpeg then buffers every coefficient of the image).</summary>
    public static byte[] FlatJpeg(int width, int height, int components = 3, int precision = 8, bool progressive = false, byte level = 160)
    {
        using var o = new MemoryStream();
        o.Write([0xFF, 0xD8]);
        if (components == 4)
        {
            // Adobe APP14: version 100, flags, transform 0 (CMYK as stored).
            Segment(o, 0xEE, [.. "Adobe"u8, 0, 100, 0, 0, 0, 0, 0]);
        }
        // One quantisation table of ones (8-bit entries).
        Segment(o, 0xDB, [0, .. Enumerable.Repeat((byte)1, 64)]);
        var sof = new List<byte> { (byte)precision, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, (byte)components };
        for (var c = 0; c < components; c++)
        {
            sof.AddRange([(byte)(c + 1), 0x11, 0]);
        }
        Segment(o, progressive ? (byte)0xC2 : precision == 12 ? (byte)0xC1 : (byte)0xC0, [.. sof]);
        // DC table 0: symbols 0..15, five-bit codes; AC table 0: only EOB (0x00), a one-bit code.
        Segment(o, 0xC4, [0x00, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .. Enumerable.Range(0, 16).Select(i => (byte)i)]);
        Segment(o, 0xC4, [0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);

        var blocks = (long)((width + 7) / 8) * ((height + 7) / 8);
        var shift = precision == 12 ? 2048 : 128;
        var dc = 8 * (level * (precision == 12 ? 16 : 1) - shift); // the DCT of a flat block, quantised by 1
        if (!progressive)
        {
            Scan(o, components, Enumerable.Range(1, components).ToArray(), 0, 63);
            EntropyCoded(o, blocks, components, dc, dcOnly: false);
        }
        else
        {
            Scan(o, components, Enumerable.Range(1, components).ToArray(), 0, 0);
            EntropyCoded(o, blocks, components, dc, dcOnly: true);
            for (var c = 1; c <= components; c++)
            {
                Scan(o, 1, [c], 1, 63);
                AcOnly(o, blocks);
            }
        }
        o.Write([0xFF, 0xD9]);
        return o.ToArray();
    }

    private static void Segment(Stream o, byte marker, byte[] payload)
    {
        o.Write([0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2)]);
        o.Write(payload);
    }

    private static void Scan(Stream o, int count, int[] ids, int ss, int se)
    {
        var payload = new List<byte> { (byte)count };
        foreach (var id in ids)
        {
            payload.AddRange([(byte)id, 0x00]);
        }
        payload.AddRange([(byte)ss, (byte)se, 0]);
        Segment(o, 0xDA, [.. payload]);
    }

    private static void EntropyCoded(Stream o, long blocks, int components, int dc, bool dcOnly)
    {
        var bits = new BitWriter(o);
        for (long b = 0; b < blocks; b++)
        {
            for (var c = 0; c < components; c++)
            {
                var diff = b == 0 ? dc : 0; // later blocks repeat the predictor
                var magnitude = Math.Abs(diff);
                var category = 0;
                while ((1 << category) <= magnitude)
                {
                    category++;
                }
                bits.Write(category, 5);
                if (category > 0)
                {
                    bits.Write(diff > 0 ? diff : diff + (1 << category) - 1, category);
                }
                if (!dcOnly)
                {
                    bits.Write(0, 1); // EOB
                }
            }
        }
        bits.Flush();
    }

    private static void AcOnly(Stream o, long blocks)
    {
        var bits = new BitWriter(o);
        for (long b = 0; b < blocks; b++)
        {
            bits.Write(0, 1); // EOB run of one block
        }
        bits.Flush();
    }

    private sealed class BitWriter(Stream o)
    {
        private int _buffer;
        private int _count;

        public void Write(int value, int length)
        {
            for (var i = length - 1; i >= 0; i--)
            {
                _buffer = (_buffer << 1) | ((value >> i) & 1);
                if (++_count == 8)
                {
                    Put();
                }
            }
        }

        public void Flush()
        {
            while (_count != 0)
            {
                Write(1, 1); // pad with ones
            }
        }

        private void Put()
        {
            o.WriteByte((byte)_buffer);
            if (_buffer == 0xFF)
            {
                o.WriteByte(0); // byte stuffing
            }
            (_buffer, _count) = (0, 0);
        }
    }
}
