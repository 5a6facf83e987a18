using System.Buffers;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Landmark.Imaging;

/// <summary>
/// Validates, decodes, orients and resizes images with SkiaSharp. Thread-safe; every call owns its native objects.
/// Decoding is proportionate to the output: JPEGs are decoded at the smallest DCT scale that still covers the target
/// size, so a 5184×3456 photo turned into a 512-pixel variant never materialises its full 18-megapixel bitmap.
/// </summary>
public sealed class ImagePipeline
{
    private readonly ImagingOptions _options;

    public ImagePipeline(ImagingOptions options)
    {
        _options = options;
    }

    public ImagePipeline(IOptions<ImagingOptions> options) : this(options.Value)
    {
    }

    public ImagingOptions Options => _options;

    /// <summary>Cheap checks from the bytes and the header only: nothing is decoded.</summary>
    /// <exception cref="ImageRejectedException">empty, too_many_bytes, unsupported_format, corrupt, truncated, too_large, too_small.</exception>
    public ImageHeader Inspect(ReadOnlySpan<byte> data)
    {
        using var skData = SKData.CreateCopy(data);
        using var codec = OpenCodec(data, skData, out var header);
        return header;
    }

    /// <summary>Full validation and decoding, EXIF orientation applied, every configured variant encoded as JPEG.</summary>
    public PreparedImage Prepare(ReadOnlyMemory<byte> data)
    {
        var largest = _options.Variants.Max(v => v.MaxSide);
        using var decoded = DecodeOriented(data.Span, largest, largest, out var header);
        var variants = new List<EncodedVariant>(_options.Variants.Count);
        foreach (var spec in _options.Variants)
        {
            var (w, h) = Fit(header.OrientedWidth, header.OrientedHeight, spec.MaxSide);
            using var resized = Render(decoded, w, h, SKMatrix.Identity, decoded.Width, decoded.Height);
            using var image = SKImage.FromBitmap(resized);
            using var encoded = image.Encode(SKEncodedImageFormat.Jpeg, spec.JpegQuality)
                ?? throw new ImageRejectedException(RejectionCodes.Corrupt, "the decoded image could not be re-encoded");
            variants.Add(new EncodedVariant(spec.Name, encoded.ToArray(), w, h, "image/jpeg"));
        }
        return new PreparedImage(header, variants);
    }

    /// <summary>Decodes, orients and resizes (squashes) to <paramref name="size"/>×<paramref name="size"/>; RGB, CHW, values in [0, 1].</summary>
    public float[] ToTensor(ReadOnlyMemory<byte> data, int size)
    {
        var tensor = new float[3 * size * size];
        ToTensor(data, size, tensor);
        return tensor;
    }

    /// <summary>As <see cref="ToTensor(ReadOnlyMemory{byte}, int)"/>, into <paramref name="destination"/> (length 3·size²).</summary>
    public void ToTensor(ReadOnlyMemory<byte> data, int size, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var plane = size * size;
        if (destination.Length < 3 * plane)
        {
            throw new ArgumentException($"destination needs {3 * plane} floats", nameof(destination));
        }
        using var decoded = DecodeOriented(data.Span, size, size, out _);
        using var square = Render(decoded, size, size, SKMatrix.Identity, decoded.Width, decoded.Height);
        var pixels = square.GetPixelSpan();
        const float scale = 1f / 255f;
        for (int i = 0, p = 0; i < plane; i++, p += 4)
        {
            destination[i] = pixels[p] * scale;
            destination[plane + i] = pixels[p + 1] * scale;
            destination[(2 * plane) + i] = pixels[p + 2] * scale;
        }
    }

    /// <summary>Decodes at the smallest scale whose size still covers <paramref name="minWidth"/>×<paramref name="minHeight"/>
    /// (in oriented axes), then applies the EXIF orientation.</summary>
    private SKBitmap DecodeOriented(ReadOnlySpan<byte> data, int minWidth, int minHeight, out ImageHeader header)
    {
        using var skData = SKData.CreateCopy(data);
        using var codec = OpenCodec(data, skData, out header);

        var info = codec.Info;
        // Target in stored (un-oriented) axes.
        var (needW, needH) = header.SwapsAxes ? (minHeight, minWidth) : (minWidth, minHeight);
        var size = new SKSizeI(info.Width, info.Height);
        var desired = Math.Max((float)needW / info.Width, (float)needH / info.Height);
        if (desired < 1f)
        {
            var scaled = codec.GetScaledDimensions(desired);
            if (scaled.Width >= Math.Min(needW, info.Width) && scaled.Height >= Math.Min(needH, info.Height) && scaled.Width > 0 && scaled.Height > 0)
            {
                size = scaled;
            }
        }

        var decodeInfo = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        var bitmap = new SKBitmap(decodeInfo);
        try
        {
            var result = codec.GetPixels(decodeInfo, bitmap.GetPixels());
            switch (result)
            {
                case SKCodecResult.Success:
                    break;
                case SKCodecResult.IncompleteInput:
                    throw new ImageRejectedException(RejectionCodes.Truncated, $"the {header.Format} data ends before the image is complete");
                case SKCodecResult.ErrorInInput:
                    throw new ImageRejectedException(RejectionCodes.Corrupt, $"the {header.Format} data has errors");
                default:
                    throw new ImageRejectedException(RejectionCodes.Corrupt, $"the {header.Format} image cannot be decoded ({result})");
            }
            if (header.Orientation == 1)
            {
                return bitmap;
            }
            var (ow, oh) = header.SwapsAxes ? (size.Height, size.Width) : (size.Width, size.Height);
            var oriented = Render(bitmap, ow, oh, OrientationMatrix(header.Orientation, size.Width, size.Height), size.Width, size.Height);
            bitmap.Dispose();
            return oriented;
        }
        catch
        {
            bitmap.Dispose();
            throw;
        }
    }

    private SKCodec OpenCodec(ReadOnlySpan<byte> data, SKData skData, out ImageHeader header)
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
                $"not a recognised image format (first bytes {Convert.ToHexString(data[..Math.Min(8, data.Length)])})");
        }
        if (HeaderReader.TryReadSize(data, format, out var declaredWidth, out var declaredHeight))
        {
            CheckSize(declaredWidth, declaredHeight);
        }
        var stream = new SKMemoryStream(skData);
        var codec = SKCodec.Create(stream, out var result);
        if (codec is null)
        {
            stream.Dispose();
            throw format is ImageFormat.Heif or ImageFormat.Avif
                ? new ImageRejectedException(RejectionCodes.UnsupportedFormat, $"{format} images cannot be decoded by this build")
                : result == SKCodecResult.IncompleteInput
                    ? new ImageRejectedException(RejectionCodes.Truncated, $"the {format} header is incomplete")
                    : new ImageRejectedException(RejectionCodes.Corrupt, $"the {format} header cannot be read ({result})");
        }
        try
        {
            var w = codec.Info.Width;
            var h = codec.Info.Height;
            CheckSize(w, h);
            var orientation = (int)codec.EncodedOrigin;
            header = new ImageHeader(format, w, h, orientation is >= 1 and <= 8 ? orientation : 1);
            return codec;
        }
        catch
        {
            codec.Dispose();
            throw;
        }
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

    /// <summary>Draws <paramref name="source"/> transformed by <paramref name="orientation"/> (source → oriented axes)
    /// and scaled to width×height, over white (alpha is flattened).</summary>
    private static SKBitmap Render(SKBitmap source, int width, int height, SKMatrix orientation, int sourceWidth, int sourceHeight)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(target);
        canvas.Clear(SKColors.White);
        var swap = Math.Abs(orientation.ScaleX) < 0.5f;
        var (orientedW, orientedH) = swap ? (sourceHeight, sourceWidth) : (sourceWidth, sourceHeight);
        var scale = SKMatrix.CreateScale((float)width / orientedW, (float)height / orientedH);
        canvas.SetMatrix(SKMatrix.Concat(scale, orientation));
        var factor = Math.Max((float)orientedW / width, (float)orientedH / height);
        var sampling = factor > 2f
            ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)
            : new SKSamplingOptions(SKCubicResampler.Mitchell);
        using var image = SKImage.FromBitmap(source);
        canvas.DrawImage(image, 0, 0, sampling);
        canvas.Flush();
        return target;
    }

    /// <summary>Maps stored pixel coordinates (w×h) to display coordinates for an EXIF orientation.</summary>
    private static SKMatrix OrientationMatrix(int orientation, int w, int h) => orientation switch
    {
        2 => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
        3 => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
        4 => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
        5 => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
        6 => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
        7 => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
        8 => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
        _ => SKMatrix.Identity,
    };

    private static (int W, int H) Fit(int width, int height, int maxSide)
    {
        var longest = Math.Max(width, height);
        if (longest <= maxSide)
        {
            return (width, height);
        }
        var scale = (double)maxSide / longest;
        return (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
    }
}
