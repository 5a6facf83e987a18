using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Training.Tests;

public class PretrainedBackboneTests(ITestOutputHelper output)
{
    private const int Size = 224;

    private static PretrainedBackbone Source => PretrainedBackbone.LoadImageNetResNet18();

    /// <summary>Real photos from the landmarks-mini val split as RGB [0, 1] CHW at 224 px.</summary>
    private static float[] Photos(int count, int size = Size)
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var pipeline = new ImagePipeline(new ImagingOptions());
        var (queries, _) = dataset.ReadSplit("val");
        return queries.Where(q => q.LandmarkId is not null).Take(count).SelectMany(q => pipeline.ToTensor(File.ReadAllBytes(q.Path), size)).ToArray();
    }

    /// <summary>The original CNTK graph in ONNX Runtime, fed as its own preprocessing graph documents (BGR, 0–255,
    /// minus the mean image), one image at a time (its batch dimension is fixed at 1): average-pooled features [512].</summary>
    private static float[][] OriginalFeatures(float[] rgb, int count)
    {
        using var session = new InferenceSession(Path.Combine(PretrainedBackbone.DefaultDirectory(), PretrainedBackbone.NetworkFile));
        var mean = Source.MeanImage(Size);
        var plane = Size * Size;
        var result = new float[count][];
        for (var n = 0; n < count; n++)
        {
            var input = new float[3 * plane];
            for (var c = 0; c < 3; c++)
            {
                for (var i = 0; i < plane; i++)
                {
                    input[(c * plane) + i] = (rgb[(n * 3 * plane) + ((2 - c) * plane) + i] * 255f) - mean[(c * plane) + i];
                }
            }
            var name = session.InputMetadata.Keys.Single();
            using var outputs = session.Run([NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(input, [1, 3, Size, Size]))]);
            result[n] = outputs[0].AsEnumerable<float>().ToArray();
        }
        return result;
    }

    private static float[] Normalise(float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    [Fact]
    public void The_graph_is_cntks_resnet18_with_2_2_2_3_blocks_and_asymmetric_stride_2_padding()
    {
        var graph = Source.Graph;
        Assert.Equal(22, graph.ConvolutionCount);
        Assert.Equal(22, graph.BatchNormCount);
        Assert.Equal(2 + 2 + 2 + 3, graph.Layers.OfType<AddLayer>().Count());
        Assert.Equal(512, graph.OutputChannels);
        var stem = graph.Layers.OfType<ConvLayer>().First();
        Assert.Equal(7, stem.Kernel);
        Assert.Equal([3L, 3, 2, 2], stem.Pads);
        Assert.Equal([1L, 1, 0, 0], graph.Layers.OfType<MaxPoolLayer>().Single().Pads);
        Assert.All(graph.Layers.OfType<ConvLayer>().Where(c => c.Kernel == 3 && c.Strides[0] == 2), c => Assert.Equal([1L, 1, 0, 0], c.Pads));
        Assert.Equal(3, graph.Layers.OfType<ConvLayer>().Count(c => c.Kernel == 1 && c.Strides[0] == 2));
        Assert.Equal(5, new GraphBackbone(Source).StageCount);
    }

    [Fact]
    public void Torchsharp_trunk_equals_onnx_runtime_on_the_original_graph_for_real_photos()
    {
        const int count = 4;
        var pixels = Photos(count);
        var expected = OriginalFeatures(pixels, count);
        using var backbone = new GraphBackbone(Source);
        backbone.eval();
        float[] actual;
        using (torch.no_grad())
        {
            using var input = torch.tensor(pixels, [count, 3, Size, Size]);
            using var features = backbone.forward(input);
            using var pooled = features.mean([2, 3]);
            actual = pooled.data<float>().ToArray();
        }
        var maxRaw = 0.0;
        var maxNormalised = 0.0;
        for (var n = 0; n < count; n++)
        {
            var mine = actual.AsSpan(n * 512, 512).ToArray();
            maxRaw = Math.Max(maxRaw, mine.Zip(expected[n], (a, b) => Math.Abs(a - b) / Math.Max(1, Math.Abs(b))).Max());
            maxNormalised = Math.Max(maxNormalised, Normalise(mine).Zip(Normalise(expected[n]), (a, b) => Math.Abs(a - b)).Max());
        }
        output.WriteLine($"max relative difference of pooled features {maxRaw:G3}; of L2-normalised features {maxNormalised:G3}");
        Assert.True(maxRaw <= 1e-4, $"pooled features differ by {maxRaw}");
        Assert.True(maxNormalised <= 1e-4, $"normalised features differ by {maxNormalised}");
    }

    [Fact]
    public void The_rebuilt_default_model_embeds_like_the_original_graph_and_takes_any_batch()
    {
        const int count = 3;
        var pixels = Photos(count);
        var expected = OriginalFeatures(pixels, count).Select(Normalise).ToArray();
        var artifact = PretrainedModel.Build(Source, Size, PretrainedPooling.Average);
        using var model = new OnnxEmbeddingModel(artifact.OnnxBytes, artifact.Manifest, new EmbedderOptions());
        var actual = model.Embed(pixels, count);
        var maxDiff = Enumerable.Range(0, count).Max(n => actual[n].Zip(expected[n], (a, b) => Math.Abs(a - b)).Max());
        output.WriteLine($"rebuilt (opset {OnnxGraphBuilder.Opset}, batch {count}) vs original CNTK graph: max difference {maxDiff:G3}");
        Assert.True(maxDiff <= 1e-4, $"embeddings differ by {maxDiff}");
        Assert.Equal(ModelManifest.KindPretrained, artifact.Manifest.Kind);
        Assert.Empty(artifact.Manifest.Mean);
    }

    [Fact]
    public void A_fine_tuned_network_exports_to_onnx_with_the_same_embeddings()
    {
        const int count = 3;
        const int size = 160;
        var pixels = Photos(count, size);
        torch.manual_seed(7);
        var network = new EmbeddingNetwork(new BackboneOptions { Pretrained = PretrainedBackbone.ImageNetResNet18 }, dimension: 64);
        network.eval();
        float[] expected;
        using (torch.no_grad())
        {
            using var input = torch.tensor(pixels, [count, 3, size, size]);
            using var result = network.forward(input);
            expected = result.data<float>().ToArray();
        }
        var onnx = OnnxExporter.Export(network, size);
        using var model = new OnnxEmbeddingModel(onnx, new ModelManifest { Version = "pretrained-parity", Kind = ModelManifest.KindTrained, InputSize = size, Dimension = 64 }, new EmbedderOptions());
        var actual = model.Embed(pixels, count).SelectMany(v => v).ToArray();
        var maxDiff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"fine-tunable network at {size} px: max |TorchSharp − ONNX Runtime| = {maxDiff:G3}");
        Assert.True(maxDiff <= 1e-4, $"max |TorchSharp − ONNX Runtime| = {maxDiff}");
    }
}
