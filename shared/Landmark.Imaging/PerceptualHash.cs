using System.Numerics;

namespace Landmark.Imaging;

/// <summary>
/// The DCT perceptual hash (pHash): the image's luminance squashed to 32×32, a 2-D DCT-II, and the 8×8 lowest
/// frequencies (DC left out of the median) compared with their median, 64 bits. Near-duplicate photos — the same shot
/// re-encoded, resized, lightly cropped or recoloured — are a few bits apart; different photos of one landmark are
/// usually 20 or more apart. Used to keep near-duplicates on one side of a train/held-out split.
/// </summary>
public static class PerceptualHash
{
    /// <summary>The side of the luminance square the hash is computed from.</summary>
    public const int InputSize = 32;
    private const int Low = 8;

    private static readonly double[,] Cosines = BuildCosines();

    /// <summary>The hash of an encoded image (decoded, oriented and squashed by <paramref name="pipeline"/>).</summary>
    /// <exception cref="ImageRejectedException">The image cannot be decoded.</exception>
    public static ulong Compute(ImagePipeline pipeline, ReadOnlyMemory<byte> data) => Compute(pipeline.ToTensor(data, InputSize));

    /// <summary>The hash of a 32×32 RGB image, CHW (as <see cref="ImagePipeline.ToTensor(ReadOnlyMemory{byte}, int)"/>).</summary>
    public static ulong Compute(ReadOnlySpan<float> rgb)
    {
        const int plane = InputSize * InputSize;
        if (rgb.Length != 3 * plane)
        {
            throw new ArgumentException($"expected {3 * plane} values (3×{InputSize}×{InputSize}), got {rgb.Length}", nameof(rgb));
        }
        var luma = new double[plane];
        for (var i = 0; i < plane; i++)
        {
            luma[i] = 0.299 * rgb[i] + 0.587 * rgb[plane + i] + 0.114 * rgb[2 * plane + i];
        }
        // Separable DCT-II, only the 8×8 lowest frequencies are needed: rows first (8 per row), then columns.
        var rows = new double[InputSize * Low];
        for (var y = 0; y < InputSize; y++)
        {
            for (var u = 0; u < Low; u++)
            {
                var sum = 0.0;
                for (var x = 0; x < InputSize; x++)
                {
                    sum += luma[y * InputSize + x] * Cosines[u, x];
                }
                rows[y * Low + u] = sum;
            }
        }
        Span<double> coefficients = stackalloc double[Low * Low];
        for (var v = 0; v < Low; v++)
        {
            for (var u = 0; u < Low; u++)
            {
                var sum = 0.0;
                for (var y = 0; y < InputSize; y++)
                {
                    sum += rows[y * Low + u] * Cosines[v, y];
                }
                coefficients[v * Low + u] = sum;
            }
        }
        Span<double> sorted = stackalloc double[Low * Low - 1];
        coefficients[1..].CopyTo(sorted);
        sorted.Sort();
        var median = (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var hash = 0UL;
        for (var i = 0; i < Low * Low; i++)
        {
            if (coefficients[i] > median)
            {
                hash |= 1UL << i;
            }
        }
        return hash;
    }

    /// <summary>Bits that differ between two hashes (0 to 64).</summary>
    public static int Distance(ulong a, ulong b) => BitOperations.PopCount(a ^ b);

    private static double[,] BuildCosines()
    {
        var cosines = new double[Low, InputSize];
        for (var u = 0; u < Low; u++)
        {
            for (var x = 0; x < InputSize; x++)
            {
                cosines[u, x] = Math.Cos((2 * x + 1) * u * Math.PI / (2 * InputSize));
            }
        }
        return cosines;
    }
}
