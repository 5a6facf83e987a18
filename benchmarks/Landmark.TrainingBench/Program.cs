using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Training;
using TorchSharp;
using static TorchSharp.torch;

// Usage: dotnet run --project benchmarks/Landmark.TrainingBench -c Release -- [DATASET_DIR] [--epochs N] [--size N] [--batch N] [--frozen N] [--lr X] [--head-warmup N] [--scratch]
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var datasetDir = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) && !int.TryParse(a, out _)) ?? Path.Combine("..", "shared", "datasets", "landmarks-mini");
int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;

var defaults = new TrainingOptions();
var options = new TrainingOptions
{
    Epochs = Arg("--epochs", defaults.Epochs),
    ImageSize = Arg("--size", defaults.ImageSize),
    BatchSize = Arg("--batch", defaults.BatchSize),
    HeadWarmupEpochs = Arg("--head-warmup", defaults.HeadWarmupEpochs),
    Backbone = args.Contains("--scratch")
        ? new BackboneOptions { Widths = [32, 64, 128, 256], Depths = [1, 1, 1, 1], StemWidth = 24 }
        : new BackboneOptions { Pretrained = PretrainedBackbone.ImageNetResNet18, FrozenStages = Arg("--frozen", defaults.Backbone.FrozenStages) },
};
if (args.Contains("--light"))
{
    options.Augmentation = AugmentationKind.Light;
}
if (args.Contains("--arcface"))
{
    options.Head = HeadKind.ArcFace;
}
if (Array.IndexOf(args, "--lr") is var lrIndex and >= 0)
{
    options.LearningRate = double.Parse(args[lrIndex + 1], CultureInfo.InvariantCulture);
}
torch.set_num_threads(Environment.ProcessorCount);
if (args.Contains("--speed"))
{
    // Fine-tuning speed beside PyTorch: the same network (the CNTK ResNet-18 from its graph + GeM + neck + sub-center
    // ArcFace), size and batch, AdamW steps on random images; then the embedder's ResNet-18 at batch 1 and at its batch size.
    await SpeedBenchmark.RunAsync(options, Arg("--steps", 6));
    return;
}
var pipeline = new ImagePipeline(new ImagingOptions());
var dataset = DatasetReader.Read(datasetDir);
var classes = dataset.Landmarks.Keys.Order(StringComparer.Ordinal).ToList();
var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i);
var loadSize = (int)(options.ImageSize * 1.15);
var stopwatch = Stopwatch.StartNew();
var samples = dataset.Train.AsParallel().AsOrdered()
    .Select(i => new TrainingSample(pipeline.ToTensor(File.ReadAllBytes(i.Path), loadSize), loadSize, classIndex[i.LandmarkId!])).ToList();
var trainClasses = classes.Count;
if (args.Contains("--nonlandmark-class"))
{
    // The non-landmark gallery as one more class: the embedding learns to keep distractors apart from landmarks.
    samples.AddRange(dataset.NonLandmarks.AsParallel().AsOrdered()
        .Select(i => new TrainingSample(pipeline.ToTensor(File.ReadAllBytes(i.Path), loadSize), loadSize, classes.Count)));
    trainClasses++;
}
Console.WriteLine($"loaded {samples.Count} training images in {stopwatch.Elapsed.TotalSeconds:F1}s");

stopwatch.Restart();
var network = new MetricLearningTrainer(options).Train(samples, trainClasses,
    r => Console.WriteLine($"epoch {r.Epoch}: loss {r.Loss:F3} train-acc {r.Accuracy:F3} {r.ImagesPerSecond:F1} images/s lr {r.LearningRate:G3}"));
var trainSeconds = stopwatch.Elapsed.TotalSeconds;
Console.WriteLine($"trained {options.Epochs} epochs in {trainSeconds:F0}s ({samples.Count * options.Epochs / trainSeconds:F1} images/s)");

float[][] Embed(IReadOnlyList<DatasetImage> images)
{
    using var noGrad = torch.no_grad();
    var result = new List<float[]>();
    foreach (var chunk in images.Chunk(32))
    {
        var pixels = chunk.AsParallel().AsOrdered().Select(i => pipeline.ToTensor(File.ReadAllBytes(i.Path), options.ImageSize)).SelectMany(p => p).ToArray();
        using var input = torch.tensor(pixels, [chunk.Length, 3, options.ImageSize, options.ImageSize]);
        using var output = network.forward(input);
        var flat = output.data<float>().ToArray();
        for (var j = 0; j < chunk.Length; j++)
        {
            result.Add(flat.AsSpan(j * network.Dimension, network.Dimension).ToArray());
        }
    }
    return [.. result];
}

var (queries, _) = dataset.ReadSplit("val");
var gallery = Embed(dataset.Train);
var distractors = Embed(dataset.NonLandmarks);
var query = Embed(queries);
var scorer = new KnnScorer(new ScorerOptions());
var predictions = new List<GapPrediction>();
for (var i = 0; i < queries.Count; i++)
{
    var sims = gallery.Select((g, j) => (s: (double)TensorPrimitives.Dot(query[i], g), j)).OrderByDescending(t => t.s).Take(10)
        .Select(t => new GalleryNeighbour(dataset.Train[t.j].Id, dataset.Train[t.j].LandmarkId!, t.s)).ToList();
    var nl = distractors.Select(d => (double)TensorPrimitives.Dot(query[i], d)).OrderDescending().Take(5).ToList();
    var p = scorer.Score(sims, nl);
    predictions.Add(new GapPrediction(p.LandmarkId, p.Confidence, queries[i].LandmarkId));
}
var gap = GlobalAveragePrecision.Compute(predictions);
Console.WriteLine($"val (trained model): GAP={gap.Gap:F4} accuracy={gap.Accuracy:F4} queries={gap.Queries}");

// TorchSharp vs ONNX Runtime inference time per image.
var onnx = OnnxExporter.Export(network, options.ImageSize);
using var ort = new OnnxEmbeddingModel(onnx, new ModelManifest { Version = "bench", Kind = ModelManifest.KindTrained, InputSize = options.ImageSize, Dimension = network.Dimension }, new EmbedderOptions());
var batch = torch.rand(16, 3, options.ImageSize, options.ImageSize);
var batchData = batch.data<float>().ToArray();
using (torch.no_grad())
{
    network.forward(batch).Dispose();
}
ort.Embed(batchData, 16);
const int rounds = 10;
stopwatch.Restart();
using (torch.no_grad())
{
    for (var r = 0; r < rounds; r++)
    {
        network.forward(batch).Dispose();
    }
}
var torchMs = stopwatch.Elapsed.TotalMilliseconds / (rounds * 16);
stopwatch.Restart();
for (var r = 0; r < rounds; r++)
{
    ort.Embed(batchData, 16);
}
var ortMs = stopwatch.Elapsed.TotalMilliseconds / (rounds * 16);
Console.WriteLine($"inference per image ({options.ImageSize}px, batch 16): TorchSharp {torchMs:F2} ms, ONNX Runtime {ortMs:F2} ms");
