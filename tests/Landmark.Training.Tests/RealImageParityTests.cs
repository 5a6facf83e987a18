using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Training.Tests;

public class RealImageParityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(BackboneFamily.ResNet)]
    [InlineData(BackboneFamily.MobileNet)]
    public void A_model_trained_on_real_photos_embeds_them_the_same_in_torchsharp_and_onnx_runtime(BackboneFamily family)
    {
        const int size = 64;
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var pipeline = new ImagePipeline(new ImagingOptions());
        var classes = dataset.Landmarks.Keys.Order(StringComparer.Ordinal).Take(3).ToList();
        var train = dataset.Train.Where(i => classes.Contains(i.LandmarkId!)).GroupBy(i => i.LandmarkId).SelectMany(g => g.Take(8)).ToList();
        var samples = train.Select(i => new TrainingSample(pipeline.ToTensor(File.ReadAllBytes(i.Path), size + 8), size + 8, classes.IndexOf(i.LandmarkId!))).ToList();
        // A few real training steps, so weights and batch-norm statistics are those of training, not of initialisation.
        var network = new MetricLearningTrainer(new TrainingOptions
        {
            Backbone = new BackboneOptions { Family = family, Widths = [16, 32, 48], Depths = [1, 1, 1], StemWidth = 16, Expansion = 2 },
            EmbeddingDimension = 64,
            ImageSize = size,
            BatchSize = 8,
            Epochs = 2,
            WarmupEpochs = 1,
            Threads = 1,
        }).Train(samples, classes.Count);

        var (queries, _) = dataset.ReadSplit("val");
        var photos = queries.Take(12).Select(q => File.ReadAllBytes(q.Path)).ToList();
        var pixels = photos.SelectMany(p => pipeline.ToTensor(p, size)).ToArray();
        float[] expected;
        using (torch.no_grad())
        {
            using var input = torch.tensor(pixels, [photos.Count, 3, size, size]);
            using var result = network.forward(input);
            expected = result.data<float>().ToArray();
        }
        var onnx = OnnxExporter.Export(network, size);
        using var model = new OnnxEmbeddingModel(onnx, new ModelManifest { Version = "parity", Kind = ModelManifest.KindTrained, InputSize = size, Dimension = 64 }, new EmbedderOptions());
        var actual = model.Embed(pixels, photos.Count).SelectMany(v => v).ToArray();

        var maxDiff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{family}: max |TorchSharp − ONNX Runtime| over {photos.Count} real photos × 64 dims = {maxDiff:G3}");
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(maxDiff <= 1e-4, $"max |TorchSharp − ONNX Runtime| = {maxDiff}");
    }
}
