using SkiaSharp;

namespace Landmark.Reporting;

/// <summary>A small JPEG of a photo, upright (EXIF orientation applied), as a data: URI.</summary>
public sealed record Thumbnail(string DataUri, int Width, int Height);

/// <summary>Makes thumbnails with SkiaSharp (JPEG, WebP, PNG, ... sniffed from the bytes, not the file name); each file once.</summary>
public sealed class Thumbnails(int maxSide = Thumbnails.DefaultMaxSide, int quality = Thumbnails.DefaultQuality)
{
    public const int DefaultMaxSide = 128;
    public const int DefaultQuality = 75;

    private readonly Dictionary<string, Thumbnail?> _cache = new(StringComparer.Ordinal);

    /// <summary>Thumbnails made so far (a report's size grows with them).</summary>
    public int Count => _cache.Values.Count(t => t is not null);

    /// <summary>The thumbnail of a file, or null when it is missing or cannot be decoded.</summary>
    public Thumbnail? Of(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }
        if (!_cache.TryGetValue(path, out var thumbnail))
        {
            thumbnail = File.Exists(path) ? Make(File.ReadAllBytes(path)) : null;
            _cache[path] = thumbnail;
        }
        return thumbnail;
    }

    public Thumbnail? Make(byte[] bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return null;
        }
        var info = codec.Info;
        // Decode at the smallest size the codec offers (JPEG: 1/2, 1/4, 1/8) that is still at least the thumbnail.
        var scale = Math.Min(1f, (float)maxSide / Math.Max(info.Width, info.Height));
        var decodeSize = codec.GetScaledDimensions(Math.Min(1f, scale * 2));
        using var decoded = new SKBitmap(new SKImageInfo(decodeSize.Width, decodeSize.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            return null;
        }

        var origin = codec.EncodedOrigin;
        var swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var (w, h) = swap ? (info.Height, info.Width) : (info.Width, info.Height);
        var s = Math.Min(1.0, (double)maxSide / Math.Max(w, h));
        var outW = Math.Max(1, (int)Math.Round(w * s));
        var outH = Math.Max(1, (int)Math.Round(h * s));

        using var surface = SKSurface.Create(new SKImageInfo(outW, outH, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        // Map the decoded bitmap (stored orientation) into the upright output rectangle.
        var (dw, dh) = swap ? (outH, outW) : (outW, outH);
        canvas.Save();
        switch (origin)
        {
            case SKEncodedOrigin.TopRight: canvas.Translate(outW, 0); canvas.Scale(-1, 1); break;
            case SKEncodedOrigin.BottomRight: canvas.Translate(outW, outH); canvas.RotateDegrees(180); break;
            case SKEncodedOrigin.BottomLeft: canvas.Translate(0, outH); canvas.Scale(1, -1); break;
            case SKEncodedOrigin.LeftTop: canvas.RotateDegrees(90); canvas.Scale(1, -1); break;
            case SKEncodedOrigin.RightTop: canvas.Translate(outW, 0); canvas.RotateDegrees(90); break;
            case SKEncodedOrigin.RightBottom: canvas.Translate(outW, 0); canvas.RotateDegrees(90); canvas.Translate(dw, 0); canvas.Scale(-1, 1); break;
            case SKEncodedOrigin.LeftBottom: canvas.Translate(0, outH); canvas.RotateDegrees(-90); break;
        }
        using var image = SKImage.FromBitmap(decoded);
        canvas.DrawImage(image, new SKRect(0, 0, dw, dh), new SKSamplingOptions(SKCubicResampler.Mitchell));
        canvas.Restore();
        using var snapshot = surface.Snapshot();
        using var jpeg = snapshot.Encode(SKEncodedImageFormat.Jpeg, quality);
        return jpeg is null ? null : new Thumbnail("data:image/jpeg;base64," + Convert.ToBase64String(jpeg.AsSpan()), outW, outH);
    }
}
