using System.Globalization;
using System.Security.Cryptography;

namespace Landmark.Onnx;

/// <summary>Settings of the training-free baseline descriptor.</summary>
public sealed record BaselineOptions
{
    /// <summary>Square input side; must be divisible by 8.</summary>
    public int InputSize { get; init; } = 224;

    /// <summary>Number of edge orientations (each in two polarities).</summary>
    public int Orientations { get; init; } = 8;

    /// <summary>Spatial pyramid: g×g grids of average pooling.</summary>
    public int[] Grids { get; init; } = [1, 2, 4];

    public float ColourWeight { get; init; } = 0.5f;

    public float FineEdgeWeight { get; init; } = 1.0f;

    public float CoarseEdgeWeight { get; init; } = 2.0f;
}

/// <summary>
/// The platform's training-free baseline embedding, built as an ONNX graph by <see cref="OnnxGraphBuilder"/>. No
/// learned weights: every filter is written down here. For a [N,3,S,S] RGB input in [0, 1] it computes
/// <list type="bullet">
/// <item>colour: opponent-colour hue energies in <c>Orientations</c> directions and brightness bins, averaged over a
/// spatial pyramid (1×1, 2×2, 4×4);</item>
/// <item>edges: Gaussian-derivative filters in <c>Orientations</c> directions and both polarities (a HOG-like
/// orientation histogram), on the image and on its half-resolution copy, averaged over the same pyramid;</item>
/// </list>
/// each block square-rooted (Hellinger-style power normalisation), L2-normalised and weighted, then concatenated and
/// L2-normalised. It is a baseline to be replaced by a trained model.
/// </summary>
public static class BaselineModel
{
    public const string InputName = "images";
    public const string OutputName = "embedding";
    public const string FormatVersion = "v1";

    public static ModelArtifact Build(BaselineOptions? options = null)
    {
        options ??= new BaselineOptions();
        var s = options.InputSize;
        if (s % 8 != 0 || s < 32)
        {
            throw new ArgumentException("InputSize must be a multiple of 8 and at least 32.", nameof(options));
        }
        var b = new OnnxGraphBuilder("landmark-baseline-descriptor");
        var x = b.Input(InputName, null, 3, s, s);

        // Luminance and opponent colour (1×1 convolutions).
        var lum = b.Conv(x, b.Initializer([0.299f, 0.587f, 0.114f], [1, 3, 1, 1]));
        var inv2 = 1f / MathF.Sqrt(2);
        var inv6 = 1f / MathF.Sqrt(6);
        var opponent = b.Conv(x, b.Initializer([inv2, -inv2, 0, inv6, inv6, -2 * inv6], [2, 3, 1, 1]));

        // Colour block: hue energies + brightness bins.
        var k = options.Orientations;
        var hueWeights = new float[k * 2];
        for (var i = 0; i < k; i++)
        {
            var theta = 2 * MathF.PI * i / k;
            hueWeights[2 * i] = MathF.Cos(theta);
            hueWeights[(2 * i) + 1] = MathF.Sin(theta);
        }
        var hue = b.Relu(b.Conv(opponent, b.Initializer(hueWeights, [k, 2, 1, 1])));
        float[] thresholds = [0.2f, 0.4f, 0.6f, 0.8f];
        var binWeights = thresholds.SelectMany(_ => new[] { 1f, -1f }).ToArray();
        var binBias = thresholds.SelectMany(t => new[] { -t, t }).ToArray();
        var bins = b.Relu(b.Conv(lum, b.Initializer(binWeights, [binWeights.Length, 1, 1, 1]), b.Initializer(binBias, [binBias.Length])));
        var colour = Pyramid(b, b.Concat(1, hue, bins), s, options.Grids);

        // Edge blocks at full and half resolution.
        var fine = Pyramid(b, OrientedEdges(b, lum, k), s, options.Grids);
        var half = b.AveragePool(lum, 2, 2);
        var coarse = Pyramid(b, OrientedEdges(b, half, k), s / 2, options.Grids);

        var blocks = new[]
        {
            Normalise(b, colour, options.ColourWeight),
            Normalise(b, fine, options.FineEdgeWeight),
            Normalise(b, coarse, options.CoarseEdgeWeight),
        };
        var embedding = b.L2Normalize(b.Concat(1, blocks));

        var cells = options.Grids.Sum(g => g * g);
        var dimension = ((k + (thresholds.Length * 2)) * cells) + (2 * (2 * k * cells));
        b.Output(embedding, OutputName, null, dimension);

        var metadata = new Dictionary<string, string>
        {
            ["landmark.kind"] = ModelManifest.KindBaseline,
            ["landmark.input_size"] = s.ToString(CultureInfo.InvariantCulture),
            ["landmark.dimension"] = dimension.ToString(CultureInfo.InvariantCulture),
        };
        var bytes = b.ToBytes(metadata: metadata);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes))[..8];
        var manifest = new ModelManifest
        {
            Version = $"{ModelManifest.KindBaseline}-{FormatVersion}-{hash}",
            Kind = ModelManifest.KindBaseline,
            Description = "Training-free baseline: opponent-colour and oriented-edge statistics on a 1/2/4 spatial pyramid, power- and L2-normalised (no learned weights).",
            InputName = InputName,
            OutputName = OutputName,
            InputSize = s,
            Dimension = dimension,
        };
        return new ModelArtifact(bytes, manifest);
    }

    /// <summary>Half-wave rectified Gaussian-derivative responses in k orientations: 2k channels.</summary>
    private static string OrientedEdges(OnnxGraphBuilder b, string luminance, int k)
    {
        const int size = 7;
        const float sigma = 1.2f;
        var weights = new float[k * size * size];
        for (var o = 0; o < k; o++)
        {
            var theta = MathF.PI * o / k;
            var (c, sn) = (MathF.Cos(theta), MathF.Sin(theta));
            var sum = 0f;
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    float dx = x - (size / 2), dy = y - (size / 2);
                    var g = MathF.Exp(-((dx * dx) + (dy * dy)) / (2 * sigma * sigma));
                    var v = -((dx * c) + (dy * sn)) / (sigma * sigma) * g;
                    weights[(o * size * size) + (y * size) + x] = v;
                    sum += MathF.Abs(v);
                }
            }
            for (var i = 0; i < size * size; i++)
            {
                weights[(o * size * size) + i] /= sum;
            }
        }
        var response = b.Conv(luminance, b.Initializer(weights, [k, 1, size, size]), pads: [size / 2, size / 2, size / 2, size / 2]);
        return b.Concat(1, b.Relu(response), b.Relu(b.Neg(response)));
    }

    /// <summary>Averages over g×g grids of the spatial pyramid and flattens: [N, C·Σg²].</summary>
    private static string Pyramid(OnnxGraphBuilder b, string features, int size, int[] grids)
    {
        var levels = grids.Select(g => b.Flatten(g == 1 ? b.GlobalAveragePool(features) : b.AveragePool(features, size / g, size / g))).ToArray();
        return levels.Length == 1 ? levels[0] : b.Concat(1, levels);
    }

    private static string Normalise(OnnxGraphBuilder b, string block, float weight) =>
        b.Mul(b.L2Normalize(b.Sqrt(b.Clip(block, 0f))), b.Scalar(weight));
}
