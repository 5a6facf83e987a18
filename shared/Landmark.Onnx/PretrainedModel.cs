using System.Globalization;
using System.Security.Cryptography;

namespace Landmark.Onnx;

/// <summary>How the pretrained trunk's feature map becomes one vector.</summary>
public enum PretrainedPooling
{
    /// <summary>Generalised mean, p = 3 (what the Google Landmark Recognition winners used).</summary>
    GeM,
    /// <summary>Plain average (what the network was trained with on ImageNet).</summary>
    Average,
}

/// <summary>
/// The ImageNet-trained ResNet-18 that ships in the NuGet package <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> 0.23.1
/// (MIT). The build copies its two graphs into every output folder that references this project
/// (<c>pretrained/imagenet-resnet18/</c>): <c>ResNet18.onnx</c> (a CNTK export, opset 8: BGR input in 0–255 minus a
/// per-pixel mean image, output [1,512,1,1] after a 7×7 average pool) and <c>ResNetPreprocess.onnx</c>, which holds
/// that mean image. Its weights never come from the repository or the network at run time.
/// <para>It is not torchvision's ResNet-18: BasicBlocks 2-2-2-3, 1×1 stride-2 projection shortcuts, and CNTK's
/// asymmetric "same" padding on the stride-2 layers; <see cref="ConvNetGraph"/> reads that topology from the graph.</para>
/// </summary>
public sealed class PretrainedBackbone
{
    public const string ImageNetResNet18 = "imagenet-resnet18";
    public const string NetworkFile = "ResNet18.onnx";
    public const string PreprocessFile = "ResNetPreprocess.onnx";

    /// <summary>Overrides where the files are looked for (a folder holding the two graphs).</summary>
    public const string DirectoryVariable = "LANDMARK_PRETRAINED_DIR";

    private readonly float[] _meanImage;
    private readonly Dictionary<int, float[]> _resized = [];

    private PretrainedBackbone(string name, ConvNetGraph graph, float[] meanImage, int nativeSize, string contentHash)
    {
        Name = name;
        Graph = graph;
        _meanImage = meanImage;
        NativeSize = nativeSize;
        ContentHash = contentHash;
    }

    public string Name { get; }

    public ConvNetGraph Graph { get; }

    /// <summary>Input side the network was trained at (its mean image's size).</summary>
    public int NativeSize { get; }

    /// <summary>SHA-256 prefix of the original graph (part of every derived model's version).</summary>
    public string ContentHash { get; }

    /// <summary>The folder the build copies the graphs to, or <c>LANDMARK_PRETRAINED_DIR</c>.</summary>
    public static string DefaultDirectory(string name = ImageNetResNet18) =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "pretrained", name);

    public static bool IsAvailable(string? directory = null)
    {
        directory ??= DefaultDirectory();
        return File.Exists(Path.Combine(directory, NetworkFile)) && File.Exists(Path.Combine(directory, PreprocessFile));
    }

    private static readonly Lock LoadGate = new();
    private static readonly Dictionary<string, PretrainedBackbone> Loaded = new(StringComparer.Ordinal);

    /// <summary>Loads (once per folder) the ImageNet ResNet-18 graphs.</summary>
    public static PretrainedBackbone LoadImageNetResNet18(string? directory = null)
    {
        directory = Path.GetFullPath(directory ?? DefaultDirectory());
        lock (LoadGate)
        {
            if (Loaded.TryGetValue(directory, out var known))
            {
                return known;
            }
            var networkPath = Path.Combine(directory, NetworkFile);
            var preprocessPath = Path.Combine(directory, PreprocessFile);
            if (!File.Exists(networkPath) || !File.Exists(preprocessPath))
            {
                throw new FileNotFoundException(
                    $"the pretrained ImageNet ResNet-18 is not in {directory} (the build copies it there from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18; rebuild, or set {DirectoryVariable})",
                    networkPath);
            }
            var network = File.ReadAllBytes(networkPath);
            var graph = ConvNetGraph.Parse(network);
            var preprocess = Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(preprocessPath));
            var mean = preprocess.Graph.Initializer.FirstOrDefault(t => t.Dims.Count == 4 && t.Dims[1] == 3)
                ?? throw new InvalidDataException($"{preprocessPath} holds no [1,3,H,W] mean image");
            if (mean.Dims[2] != mean.Dims[3])
            {
                throw new InvalidDataException($"{preprocessPath}: the mean image is not square");
            }
            var backbone = new PretrainedBackbone(ImageNetResNet18, graph, ConvNetGraph.Floats(mean), (int)mean.Dims[2],
                Convert.ToHexStringLower(SHA256.HashData(network))[..8]);
            Loaded[directory] = backbone;
            return backbone;
        }
    }

    /// <summary>The network's mean image in its own channel order (BGR, 0–255) as [3, size, size]: the original at the
    /// native size, a bilinear resample of it at other sizes.</summary>
    public float[] MeanImage(int size)
    {
        if (size == NativeSize)
        {
            return _meanImage;
        }
        lock (_resized)
        {
            if (!_resized.TryGetValue(size, out var image))
            {
                image = Resize(_meanImage, NativeSize, size);
                _resized[size] = image;
            }
            return image;
        }
    }

    private static float[] Resize(float[] source, int from, int to)
    {
        var result = new float[3 * to * to];
        var scale = (double)from / to;
        for (var c = 0; c < 3; c++)
        {
            for (var y = 0; y < to; y++)
            {
                var sy = Math.Clamp(((y + 0.5) * scale) - 0.5, 0, from - 1);
                var y0 = (int)sy;
                var y1 = Math.Min(y0 + 1, from - 1);
                var fy = sy - y0;
                for (var x = 0; x < to; x++)
                {
                    var sx = Math.Clamp(((x + 0.5) * scale) - 0.5, 0, from - 1);
                    var x0 = (int)sx;
                    var x1 = Math.Min(x0 + 1, from - 1);
                    var fx = sx - x0;
                    var plane = c * from * from;
                    var top = (source[plane + (y0 * from) + x0] * (1 - fx)) + (source[plane + (y0 * from) + x1] * fx);
                    var bottom = (source[plane + (y1 * from) + x0] * (1 - fx)) + (source[plane + (y1 * from) + x1] * fx);
                    result[(c * to * to) + (y * to) + x] = (float)((top * (1 - fy)) + (bottom * fy));
                }
            }
        }
        return result;
    }
}

/// <summary>
/// Rebuilds a pretrained trunk as a platform embedding model (opset <see cref="OnnxGraphBuilder.Opset"/>, batch
/// dimension free): RGB in [0, 1] → ×255, reordered to BGR, minus the mean image (preprocessing folded into the graph,
/// so the manifest needs no mean/std) → the trunk → GeM or average pooling → flatten → L2 normalisation.
/// </summary>
public static class PretrainedModel
{
    public const string FormatVersion = "v1";

    public static ModelArtifact Build(PretrainedBackbone backbone, int inputSize = 224, PretrainedPooling pooling = PretrainedPooling.GeM, float gemP = 3f)
    {
        if (inputSize < 32 || inputSize % 32 != 0)
        {
            throw new ArgumentException("inputSize must be a multiple of 32 and at least 32", nameof(inputSize));
        }
        var b = new OnnxGraphBuilder($"landmark-{backbone.Name}");
        var x = b.Input(BaselineModel.InputName, null, 3, inputSize, inputSize);
        var features = EmitTrunk(b, backbone.Graph, EmitPreprocess(b, x, backbone.MeanImage(inputSize), inputSize));
        var pooled = pooling == PretrainedPooling.GeM ? b.GeM(features, gemP) : b.GlobalAveragePool(features);
        var dimension = (int)backbone.Graph.OutputChannels;
        b.Output(b.L2Normalize(b.Flatten(pooled)), BaselineModel.OutputName, null, dimension);
        var pool = pooling == PretrainedPooling.GeM ? $"gem{gemP.ToString("0.##", CultureInfo.InvariantCulture)}" : "avg";
        var bytes = b.ToBytes(metadata: new Dictionary<string, string>
        {
            ["landmark.kind"] = ModelManifest.KindPretrained,
            ["landmark.backbone"] = backbone.Name,
            ["landmark.input_size"] = inputSize.ToString(CultureInfo.InvariantCulture),
        });
        var manifest = new ModelManifest
        {
            Version = $"{backbone.Name}-{pool}-{inputSize}-{FormatVersion}-{backbone.ContentHash}",
            Kind = ModelManifest.KindPretrained,
            Description = $"ImageNet-trained ResNet-18 (CNTK export from Microsoft.ML.DnnImageFeaturizer.ResNet18), {(pooling == PretrainedPooling.GeM ? $"GeM p={gemP}" : "average")} pooling, L2-normalised; no landmark training",
            InputName = BaselineModel.InputName,
            OutputName = BaselineModel.OutputName,
            InputSize = inputSize,
            Dimension = dimension,
        };
        return new ModelArtifact(bytes, manifest);
    }

    /// <summary>RGB [0, 1] → BGR × 255 − mean image (a 1×1 convolution and a subtraction).</summary>
    public static string EmitPreprocess(OnnxGraphBuilder b, string images, float[] meanImageBgr, int size)
    {
        // out[c] = 255 · in[2 − c]: output channel 0 (B) reads input channel 2, …
        var permute = new float[9];
        for (var c = 0; c < 3; c++)
        {
            permute[(c * 3) + (2 - c)] = 255f;
        }
        var bgr = b.Conv(images, b.Initializer(permute, [3, 3, 1, 1]));
        return b.Sub(bgr, b.Initializer(meanImageBgr, [1, 3, size, size]));
    }

    /// <summary>Emits the trunk's layers on <paramref name="input"/>; returns the feature map's tensor name.</summary>
    public static string EmitTrunk(OnnxGraphBuilder b, ConvNetGraph graph, string input)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal) { [graph.Input] = input };
        foreach (var layer in graph.Layers)
        {
            var x = names[layer.Inputs[0]];
            names[layer.Output] = layer switch
            {
                ConvLayer conv => b.Conv(x, b.Initializer(conv.Weight, conv.Shape), strides: conv.Strides, pads: conv.Pads, group: conv.Group),
                BatchNormLayer bn => b.BatchNormalization(x, b.Initializer(bn.Scale, [bn.Scale.Length]), b.Initializer(bn.Bias, [bn.Bias.Length]),
                    b.Initializer(bn.Mean, [bn.Mean.Length]), b.Initializer(bn.Variance, [bn.Variance.Length]), bn.Epsilon),
                ReluLayer => b.Relu(x),
                AddLayer => b.Add(x, names[layer.Inputs[1]]),
                MaxPoolLayer pool => b.Node("MaxPool", [x],
                    [OnnxGraphBuilder.Ints("kernel_shape", [pool.Kernel, pool.Kernel]), OnnxGraphBuilder.Ints("strides", [pool.Stride, pool.Stride]), OnnxGraphBuilder.Ints("pads", pool.Pads)]),
                _ => throw new NotSupportedException(layer.GetType().Name),
            };
        }
        return names[graph.Output];
    }
}
