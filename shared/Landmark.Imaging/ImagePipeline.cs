using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Landmark.Imaging;

/// <summary>
/// Validates, decodes, orients and resizes images with SkiaSharp. Thread-safe: the pipeline holds only its options and
/// every call owns (and disposes) its native objects.
/// <para>
/// Work is proportionate to the output. The encoded bytes are pinned and handed to the codec without a copy; the size
/// declared by the header is checked before anything is decoded; JPEGs are decoded at the smallest DCT scale (n/8) and
/// WebPs at the smallest size that still covers the target, so a 5184×3456 photo turned into a 512-pixel variant
/// never materialises its 18-megapixel bitmap; the EXIF orientation is folded into the single resampling draw.
/// </para>
/// </summary>
public sealed class ImagePipeline
{
    private readonly ImagingOptions _options;

    public ImagePipeline(ImagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    public ImagePipeline(IOptions<ImagingOptions> options) : this(options.Value)
    {
    }

    public ImagingOptions Options => _options;

    /// <summary>Cheap checks from the bytes and the header only: nothing is decoded, nothing is copied.</summary>
    /// <exception cref="ImageRejectedException">empty, too_many_bytes, unsupported_format, corrupt, truncated (header
    /// cut short), too_large, too_small.</exception>
    public unsafe ImageHeader Inspect(ReadOnlySpan<byte> data)
    {
        var format = CheckBytes(data);
        fixed (byte* pointer = data)
        {
            using var source = EncodedSource.Open(this, data, (IntPtr)pointer, format);
            return source.Header;
        }
    }

    /// <summary>Full validation and decoding, EXIF orientation applied, every configured variant resized once (never
    /// upscaled, aspect ratio kept) and encoded as JPEG; alpha is composited over white. The variants come back in the
    /// order of <see cref="ImagingOptions.Variants"/>.</summary>
    /// <exception cref="ImageRejectedException">Anything <see cref="Inspect"/> rejects, plus truncated or corrupt image data.</exception>
    public unsafe PreparedImage Prepare(ReadOnlyMemory<byte> data)
    {
        var format = CheckBytes(data.Span);
        using var pin = data.Pin();
        using var source = EncodedSource.Open(this, data.Span, (IntPtr)pin.Pointer, format);
        var header = source.Header;

        var specs = _options.Variants;
        var sizes = specs.Select(v => Fit(header.OrientedWidth, header.OrientedHeight, v.MaxSide)).ToArray();
        var (needW, needH) = sizes.Length == 0 ? (1, 1) : sizes.MaxBy(s => (long)s.W * s.H);
        using var decoded = source.Decode(data.Span, needW, needH);

        // Largest first: a smaller variant is resampled from the smallest variant already made that is at least twice
        // its size (far fewer source pixels for the thumbnail of a large PNG), otherwise from the decode itself.
        var results = new EncodedVariant[specs.Count];
        var rendered = new List<SKBitmap>(specs.Count);
        try
        {
            foreach (var index in Enumerable.Range(0, specs.Count).OrderByDescending(i => (long)sizes[i].W * sizes[i].H))
            {
                var (w, h) = sizes[index];
                var from = rendered.Where(b => b.Width >= 2 * w && b.Height >= 2 * h).MinBy(b => (long)b.Width * b.Height);
                var bitmap = from is null
                    ? Render(decoded.Bitmap, decoded.Orientation, w, h)
                    : Render(from, 1, w, h);
                rendered.Add(bitmap);
                results[index] = new EncodedVariant(specs[index].Name, EncodeJpeg(bitmap, specs[index].JpegQuality), w, h, "image/jpeg");
            }
        }
        finally
        {
            foreach (var bitmap in rendered)
            {
                bitmap.Dispose();
            }
        }
        return new PreparedImage(header, results);
    }

    /// <summary>Decodes, orients and resizes (squashes) to <paramref name="size"/>×<paramref name="size"/>; RGB, CHW,
    /// values in [0, 1]; alpha composited over white. Length 3·size².</summary>
    /// <exception cref="ImageRejectedException">As <see cref="Prepare"/>.</exception>
    public float[] ToTensor(ReadOnlyMemory<byte> data, int size)
    {
        CheckTensorSize(size);
        var tensor = new float[3 * size * size];
        ToTensor(data, size, tensor);
        return tensor;
    }

    /// <summary>As <see cref="ToTensor(ReadOnlyMemory{byte}, int)"/>, into the first 3·size² floats of
    /// <paramref name="destination"/> (a slice of a batch buffer). Channel c of pixel (x, y) is at c·size² + y·size + x.</summary>
    public unsafe void ToTensor(ReadOnlyMemory<byte> data, int size, Span<float> destination)
    {
        CheckTensorSize(size);
        var plane = size * size;
        if (destination.Length < 3 * plane)
        {
            throw new ArgumentException($"destination needs {3 * plane} floats, it has {destination.Length}", nameof(destination));
        }
        var format = CheckBytes(data.Span);
        using var pin = data.Pin();
        using var source = EncodedSource.Open(this, data.Span, (IntPtr)pin.Pointer, format);
        using var decoded = source.Decode(data.Span, size, size);
        using var square = Render(decoded.Bitmap, decoded.Orientation, size, size);

        ReadOnlySpan<byte> pixels = square.GetPixelSpan();
        var rowBytes = square.RowBytes;
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        const float scale = 1f / 255f;
        for (var y = 0; y < size; y++)
        {
            var row = pixels.Slice(y * rowBytes, 4 * size);
            var o = y * size;
            for (int x = 0, p = 0; x < size; x++, p += 4)
            {
                r[o + x] = row[p] * scale;
                g[o + x] = row[p + 1] * scale;
                b[o + x] = row[p + 2] * scale;
            }
        }
    }

    private static void CheckTensorSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 8192);
    }

    /// <summary>Checks that need only the length and the first bytes: empty, too many bytes, unknown format.</summary>
    private ImageFormat CheckBytes(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw new ImageRejectedException(RejectionCodes.Empty, "the file has no bytes");
        }
        if (data.Length > _options.MaxBytes)
        {
            throw new ImageRejectedException(RejectionCodes.TooManyBytes, $"{data.Length} bytes exceed the limit of {_options.MaxBytes}");
        }
        var format = FormatSniffer.Sniff(data);
        if (format == ImageFormat.Unknown)
        {
            throw new ImageRejectedException(RejectionCodes.UnsupportedFormat,
                "not a recognised image format (JPEG, PNG, WebP, GIF, BMP, HEIC, AVIF)");
        }
        return format;
    }

    private void CheckSize(int w, int h)
    {
        if ((long)w * h > _options.MaxPixels)
        {
            throw new ImageRejectedException(RejectionCodes.TooLarge, $"{w}×{h} = {(long)w * h} pixels exceed the limit of {_options.MaxPixels}");
        }
        if (Math.Min(w, h) < _options.MinSide)
        {
            throw new ImageRejectedException(RejectionCodes.TooSmall, $"{w}×{h} is smaller than {_options.MinSide} pixels on a side");
        }
    }

    /// <summary>Truncated or corrupt, from the decoder's verdict and a walk over the container's structure: a decoder
    /// that ran out of data on a well-formed container saw a truncated file; one that found nonsense, or ran out of
    /// data on a broken container, saw a corrupt one.</summary>
    private static ImageRejectedException DecodeFailure(ReadOnlySpan<byte> data, ImageFormat format, SKCodecResult result, string stage)
    {
        var structure = HeaderReader.CheckStructure(data, format);
        var truncated = result == SKCodecResult.IncompleteInput
            ? structure.Status != ContainerStatus.Corrupt
            : structure.Status == ContainerStatus.Truncated;
        var detail = structure.Problem is { } problem ? $"{problem}; decoder {stage}: {result}" : $"decoder {stage}: {result}";
        return truncated
            ? new ImageRejectedException(RejectionCodes.Truncated, $"the {format} data ends before the image is complete ({detail})")
            : new ImageRejectedException(RejectionCodes.Corrupt, $"the {format} data is damaged ({detail})");
    }

    /// <summary>A new opaque width×height bitmap in display axes from <paramref name="source"/> (stored axes, EXIF
    /// <paramref name="orientation"/>): resampled in stored axes with <see cref="Resampler"/> (skipped when the size
    /// does not change), then turned or mirrored by an exact pixel copy.</summary>
    private static SKBitmap Render(SKBitmap source, int orientation, int width, int height)
    {
        var swap = orientation is >= 5 and <= 8;
        var (storedW, storedH) = swap ? (height, width) : (width, height);
        var resized = storedW == source.Width && storedH == source.Height ? null : Resize(source, storedW, storedH);
        if (resized is not null && orientation == 1)
        {
            return resized;
        }
        try
        {
            return Orient(resized ?? source, orientation);
        }
        finally
        {
            resized?.Dispose();
        }
    }

    private static unsafe SKBitmap Resize(SKBitmap source, int width, int height)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        try
        {
            var sourcePixels = new ReadOnlySpan<byte>((void*)source.GetPixels(), source.RowBytes * source.Height);
            var targetPixels = new Span<byte>((void*)target.GetPixels(), target.RowBytes * height);
            Resampler.Resize(sourcePixels, source.Width, source.Height, source.RowBytes, targetPixels, width, height, target.RowBytes);
            target.SetImmutable();
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>An exact copy of <paramref name="source"/> turned into display axes (nearest sampling on whole pixels).</summary>
    private static SKBitmap Orient(SKBitmap source, int orientation)
    {
        var swap = orientation is >= 5 and <= 8;
        var (width, height) = swap ? (source.Height, source.Width) : (source.Width, source.Height);
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        try
        {
            using var canvas = new SKCanvas(target);
            canvas.Clear(SKColors.White);
            canvas.SetMatrix(OrientationMatrix(orientation, source.Width, source.Height));
            using var image = SKImage.FromBitmap(source); // shares the pixels: sources are immutable
            canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
            canvas.Flush();
            target.SetImmutable();
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    private static byte[] EncodeJpeg(SKBitmap bitmap, int quality)
    {
        using var pixmap = bitmap.PeekPixels();
        using var encoded = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore))
            ?? throw new InvalidOperationException("the JPEG encoder failed");
        return encoded.ToArray();
    }

    /// <summary>Maps stored pixel coordinates (w×h) to display coordinates for an EXIF orientation.</summary>
    private static SKMatrix OrientationMatrix(int orientation, int w, int h) => orientation switch
    {
        2 => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),   // mirrored
        3 => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),  // 180°
        4 => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),   // flipped
        5 => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),    // transposed
        6 => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),   // 90° clockwise
        7 => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),  // transversed
        8 => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),   // 90° counter-clockwise
        _ => SKMatrix.Identity,
    };

    /// <summary>The size whose longest side is at most <paramref name="maxSide"/>, same aspect ratio, never larger.</summary>
    internal static (int W, int H) Fit(int width, int height, int maxSide)
    {
        var longest = Math.Max(width, height);
        if (longest <= maxSide)
        {
            return (width, height);
        }
        var scale = (double)maxSide / longest;
        return width >= height
            ? (maxSide, Math.Clamp((int)Math.Round(height * scale), 1, maxSide))
            : (Math.Clamp((int)Math.Round(width * scale), 1, maxSide), maxSide);
    }

    /// <summary>A decoded bitmap in stored axes (opaque, sRGB) and the EXIF orientation still to apply.</summary>
    private sealed class Decoded(SKBitmap bitmap, int orientation) : IDisposable
    {
        public SKBitmap Bitmap { get; } = bitmap;

        public int Orientation { get; } = orientation;

        public void Dispose() => Bitmap.Dispose();
    }

    /// <summary>An open codec over pinned bytes that it does not own or copy. Dispose before unpinning.</summary>
    private sealed class EncodedSource : IDisposable
    {
        private readonly SKCodec _codec;

        private EncodedSource(SKCodec codec, ImageHeader header)
        {
            _codec = codec;
            Header = header;
        }

        public ImageHeader Header { get; }

        public static EncodedSource Open(ImagePipeline pipeline, ReadOnlySpan<byte> bytes, IntPtr pinned, ImageFormat format)
        {
            var declared = HeaderReader.ReadHeader(bytes, format);
            if (declared.Status == ContainerStatus.Valid)
            {
                pipeline.CheckSize(declared.Width, declared.Height); // before any decoder sees the bytes
            }
            else if (declared.Status == ContainerStatus.Corrupt && format is ImageFormat.Png or ImageFormat.Webp or ImageFormat.Gif)
            {
                // These decoders are as strict as the header walk; libjpeg and the BMP reader skip some oddities,
                // so for those the decoder has the last word.
                throw new ImageRejectedException(RejectionCodes.Corrupt, $"the {format} header is invalid ({declared.Problem})");
            }

            // The stream shares the pinned bytes (no copy, no release proc) and is owned by the codec once created.
            var stream = new SKMemoryStream(SKData.Create(pinned, bytes.Length));
            var codec = SKCodec.Create(stream, out var result);
            if (codec is null)
            {
                stream.Dispose();
                throw format is ImageFormat.Heif or ImageFormat.Avif
                    ? new ImageRejectedException(RejectionCodes.UnsupportedFormat, $"{format} images cannot be decoded by this build")
                    : DecodeFailure(bytes, format, result, "header");
            }
            try
            {
                var w = codec.Info.Width;
                var h = codec.Info.Height;
                pipeline.CheckSize(w, h);
                var origin = (int)codec.EncodedOrigin;
                var header = new ImageHeader(format, w, h, origin is >= 1 and <= 8 ? origin : 1);
                return new EncodedSource(codec, header);
            }
            catch
            {
                codec.Dispose();
                throw;
            }
        }

        /// <summary>Decodes at the smallest scale the codec offers whose oriented size still covers
        /// <paramref name="needWidth"/>×<paramref name="needHeight"/> (or at full size), converting embedded colour
        /// profiles to sRGB and compositing alpha over white.</summary>
        public Decoded Decode(ReadOnlySpan<byte> bytes, int needWidth, int needHeight)
        {
            var (needW, needH) = Header.SwapsAxes ? (needHeight, needWidth) : (needWidth, needHeight);
            var size = ChooseDecodeSize(_codec, needW, needH);
            var opaque = _codec.Info.AlphaType == SKAlphaType.Opaque;
            var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Premul,
                SKColorSpace.CreateSrgb());
            var bitmap = new SKBitmap(info);
            try
            {
                var result = _codec.GetPixels(info, bitmap.GetPixels());
                if (result != SKCodecResult.Success)
                {
                    throw DecodeFailure(bytes, Header.Format, result, "pixels");
                }
                if (!opaque)
                {
                    var flat = new SKBitmap(info.WithAlphaType(SKAlphaType.Opaque));
                    using (var canvas = new SKCanvas(flat))
                    using (var image = SKImage.FromBitmap(bitmap))
                    {
                        canvas.Clear(SKColors.White);
                        canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest));
                    }
                    bitmap.Dispose();
                    bitmap = flat;
                }
                bitmap.SetImmutable();
                return new Decoded(bitmap, Header.Orientation);
            }
            catch
            {
                bitmap.Dispose();
                throw;
            }
        }

        /// <summary>JPEG offers n/8 scales (libjpeg-turbo's scaled IDCT), WebP any size, the others only full size.
        /// Skia rounds a requested JPEG scale to the nearest eighth, so every eighth above the exact ratio is tried.</summary>
        private static SKSizeI ChooseDecodeSize(SKCodec codec, int needW, int needH)
        {
            var full = codec.Info.Size;
            if (needW >= full.Width || needH >= full.Height)
            {
                return full;
            }
            var exact = Math.Max((float)needW / full.Width, (float)needH / full.Height);
            var best = full;
            Span<float> candidates = [exact, exact + (1f / Math.Min(full.Width, full.Height)), 1 / 8f, 2 / 8f, 3 / 8f, 4 / 8f, 5 / 8f, 6 / 8f, 7 / 8f];
            foreach (var scale in candidates)
            {
                if (scale < exact || scale >= 1f)
                {
                    continue;
                }
                var scaled = codec.GetScaledDimensions(scale);
                if (scaled.Width >= needW && scaled.Height >= needH && scaled.Width <= full.Width && scaled.Height <= full.Height
                    && (long)scaled.Width * scaled.Height < (long)best.Width * best.Height)
                {
                    best = scaled;
                }
            }
            return best;
        }

        public void Dispose() => _codec.Dispose();
    }
}
