using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;

namespace Landmark.Imaging;

/// <summary>Container format, sniffed from the bytes (never from the file name).</summary>
public enum ImageFormat
{
    Unknown,
    Jpeg,
    Png,
    Webp,
    Gif,
    Bmp,
    Heif,
    Avif,
}

/// <summary>What the header says. <see cref="Orientation"/> is the EXIF orientation (1 = as stored).</summary>
public sealed record ImageHeader(ImageFormat Format, int Width, int Height, int Orientation)
{
    /// <summary>Orientations 5–8 rotate by 90°: width and height swap once applied.</summary>
    public bool SwapsAxes => Orientation is >= 5 and <= 8;

    public int OrientedWidth => SwapsAxes ? Height : Width;

    public int OrientedHeight => SwapsAxes ? Width : Height;
}

/// <summary>Machine-readable reasons an image is refused.</summary>
public static class RejectionCodes
{
    public const string Empty = "empty";
    public const string UnsupportedFormat = "unsupported_format";
    public const string Truncated = "truncated";
    public const string Corrupt = "corrupt";
    public const string TooSmall = "too_small";
    public const string TooLarge = "too_large";
    public const string TooManyBytes = "too_many_bytes";
}

/// <summary>The image cannot be used. <see cref="Exception.Message"/> is <c>"{Code}: {Reason}"</c>.</summary>
public sealed class ImageRejectedException(string code, string reason) : Exception($"{code}: {reason}")
{
    public string Code { get; } = code;
    public string Reason { get; } = reason;
}

/// <summary>A resized copy to store: longest side at most <see cref="MaxSide"/> (never upscaled), JPEG.</summary>
public sealed class VariantSpec
{
    /// <summary>The variant the embedder decodes and the trainer reads (the largest when a configuration has none by
    /// this name).</summary>
    public const string EmbedName = "embed";

    /// <summary>The variant the embedder decodes among <paramref name="variants"/> (stored or just made): the one named
    /// <see cref="EmbedName"/>, else the largest; null when there is none.</summary>
    public static T? ChooseEmbed<T>(IReadOnlyCollection<T> variants, Func<T, string> name, Func<T, long> pixels) where T : class =>
        variants.FirstOrDefault(v => name(v) == EmbedName) ?? variants.MaxBy(pixels);

    public VariantSpec()
    {
    }

    public VariantSpec(string name, int maxSide, int jpegQuality)
    {
        Name = name;
        MaxSide = maxSide;
        JpegQuality = jpegQuality;
    }

    [Required]
    [RegularExpression("^[a-z0-9-]{1,32}$")]
    public string Name { get; set; } = "";

    [Range(16, 8192)]
    public int MaxSide { get; set; }

    [Range(1, 100)]
    public int JpegQuality { get; set; } = 90;
}

/// <summary>Limits and variants. Bound from <c>Landmark:Imaging</c>.</summary>
public sealed class ImagingOptions : IValidatableObject
{
    public const string SectionName = "Landmark:Imaging";

    [Range(1, long.MaxValue)]
    public long MaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Checked on the header before any pixel is decoded (decompression bombs). The default, 80 megapixels
    /// (an 8,900×8,900 scan fits; the largest camera photos are 50–60), is sized to memory: the worst layouts (GIF,
    /// interlaced PNG) make the decoder hold the whole image, 80 M × 4 bytes = 320 MB, which fits the default
    /// <see cref="DecodeBudgetMegapixels"/> with room for streamed decodes beside it.</summary>
    [Range(1, long.MaxValue)]
    public long MaxPixels { get; set; } = 80_000_000;

    /// <summary>
    /// Process-wide decode memory, in megapixels of 4 bytes (<see cref="DecodeBudget"/>): decodes wait until their
    /// estimated working set fits. 128 (512 MiB) keeps a 2 GiB pod (runtime, encoded bytes in flight and native
    /// allocator slack take the rest) out of the OOM killer whatever arrives; raise it with the memory limit. It must
    /// be at least <see cref="MaxPixels"/>, so that every image the size limit admits can be decoded alone.
    /// </summary>
    [Range(1, 1_000_000)]
    public long DecodeBudgetMegapixels { get; set; } = 128;

    [Range(1, 4096)]
    public int MinSide { get; set; } = 16;

    public List<VariantSpec> Variants { get; set; } = [new(VariantSpec.EmbedName, 512, 90), new("thumb", 160, 80)];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Variants.Count == 0)
        {
            yield return new ValidationResult("At least one variant is required.", [nameof(Variants)]);
        }
        foreach (var v in Variants)
        {
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(v, new ValidationContext(v), results, validateAllProperties: true))
            {
                foreach (var r in results)
                {
                    yield return r;
                }
            }
        }
        if (DecodeBudgetMegapixels * 1_000_000 < MaxPixels)
        {
            yield return new ValidationResult(
                $"DecodeBudgetMegapixels ({DecodeBudgetMegapixels}) must hold MaxPixels ({MaxPixels} pixels) so that every admitted image can be decoded.",
                [nameof(DecodeBudgetMegapixels), nameof(MaxPixels)]);
        }
        if (Variants.Select(v => v.Name).Distinct(StringComparer.Ordinal).Count() != Variants.Count)
        {
            yield return new ValidationResult("Variant names must be unique.", [nameof(Variants)]);
        }
    }
}

/// <summary>An encoded variant ready to store.</summary>
public sealed record EncodedVariant(string Name, byte[] Bytes, int Width, int Height, string ContentType);

/// <summary>The result of <see cref="ImagePipeline.Prepare"/>.</summary>
public sealed record PreparedImage(ImageHeader Header, IReadOnlyList<EncodedVariant> Variants);

/// <summary>Content hashes used as image identities.</summary>
public static class ContentHash
{
    /// <summary>Lower-case hex SHA-256.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
