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
//        [--no-neck] [--nonlandmark-class] [--holdout FRACTION] [--baseline]
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
if (args.Contains("--no-neck"))
{
    options.Neck = NeckKind.None;
}
var pipeline = new ImagePipeline(new ImagingOptions());
var dataset = DatasetReader.Read(datasetDir);
var classes = dataset.Landmarks.Keys.Order(StringComparer.Ordinal).ToList();
var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i);
// --holdout F: a seeded, stratified fraction of `train` is held out (as a training job does) and scored as extra
// queries against the rest, beside `val`; both the trained and the untouched pretrained model are scored.
var holdoutFraction = Array.IndexOf(args, "--holdout") is var hi and >= 0 ? double.Parse(args[hi + 1], CultureInfo.InvariantCulture) : 0;
var trainImages = new List<DatasetImage>();
var heldOutImages = new List<DatasetImage>();
var random = new Random(options.Seed);
foreach (var group in dataset.Train.GroupBy(i => i.LandmarkId!).OrderBy(g => g.Key, StringComparer.Ordinal))
{
    var members = group.OrderBy(i => i.Id, StringComparer.Ordinal).ToArray();
    random.Shuffle(members);
    var held = (int)Math.Round(members.Length * holdoutFraction);
    heldOutImages.AddRange(members.Take(held));
    trainImages.AddRange(members.Skip(held));
}
var loadSize = (int)(options.ImageSize * 1.15);
var stopwatch = Stopwatch.StartNew();
var samples = trainImages.AsParallel().AsOrdered()
    .Select(i => new TrainingSample(pipeline.ToTensor(File.ReadAllBytes(i.Path), loadSize), loadSize, classIndex[i.LandmarkId!])).ToList();
var trainClasses = classes.Count;
if (args.Contains("--nonlandmark-class"))
{
    // The non-landmark gallery as one more class: the embedding learns to keep distractors apart from landmarks.
    samples.AddRange(dataset.NonLandmarks.AsParallel().AsOrdered()
        .Select(i => new TrainingSample(pipeline.ToTensor(File.ReadAllBytes(i.Path), loadSize), loadSize, classes.Count)));
    trainClasses++;
}
Console.WriteLine($"loaded {samples.Count} training images ({heldOutImages.Count} held out) in {stopwatch.Elapsed.TotalSeconds:F1}s");

var (queries, _) = dataset.ReadSplit("val");
if (args.Contains("--baseline") || holdoutFraction > 0)
{
    // The untouched pretrained model: the pretrained trunk + GeM without a neck is exactly the platform's default model.
    using var pretrained = new EmbeddingNetwork(new BackboneOptions { Pretrained = PretrainedBackbone.ImageNetResNet18 }, 0);
    pretrained.eval();
    Score("pretrained", pretrained);
}

stopwatch.Restart();
var network = new MetricLearningTrainer(options).Train(samples, trainClasses,
    r => Console.WriteLine($"epoch {r.Epoch}: loss {r.Loss:F3} train-acc {r.Accuracy:F3} {r.ImagesPerSecond:F1} images/s lr {r.LearningRate:G3}"));
var trainSeconds = stopwatch.Elapsed.TotalSeconds;
Console.WriteLine($"trained {options.Epochs} epochs in {trainSeconds:F0}s ({samples.Count * options.Epochs / trainSeconds:F1} images/s)");
Score("trained model", network);

void Score(string name, EmbeddingNetwork model)
{
    var all = Embed(model, dataset.Train);
    var distractors = Embed(model, dataset.NonLandmarks);
    var val = Gap(Embed(model, queries), queries.Select(q => q.LandmarkId).ToList(), all, dataset.Train, distractors);
    Console.WriteLine($"val ({name}): GAP={val.Gap:F4} accuracy={val.Accuracy:F4} queries={val.Queries}");
    if (heldOutImages.Count > 0)
    {
        var position = dataset.Train.Select((image, i) => (image.Id, i)).ToDictionary(t => t.Id, t => t.i);
        var heldOut = heldOutImages.Select(i => position[i.Id]).ToList();
        var rest = Enumerable.Range(0, dataset.Train.Count).Except(heldOut).ToList();
        var result = Gap(heldOut.Select(i => all[i]).ToArray(), heldOut.Select(i => dataset.Train[i].LandmarkId).ToList(),
            rest.Select(i => all[i]).ToArray(), rest.Select(i => dataset.Train[i]).ToList(), distractors);
        Console.WriteLine($"held-out ({name}): GAP={result.Gap:F4} accuracy={result.Accuracy:F4} queries={result.Queries}");
    }
}

GapResult Gap(float[][] query, IReadOnlyList<string?> truth, float[][] gallery, IReadOnlyList<DatasetImage> galleryImages, float[][] distractors)
{
    var scorer = new KnnScorer(new ScorerOptions());
    var predictions = new List<GapPrediction>();
    for (var i = 0; i < query.Length; i++)
    {
        var sims = gallery.Select((g, j) => (s: (double)TensorPrimitives.Dot(query[i], g), j)).OrderByDescending(t => t.s).Take(10)
            .Select(t => new GalleryNeighbour(galleryImages[t.j].Id, galleryImages[t.j].LandmarkId!, t.s)).ToList();
        var nl = distractors.Select(d => (double)TensorPrimitives.Dot(query[i], d)).OrderDescending().Take(5).ToList();
        var p = scorer.Score(sims, nl);
        predictions.Add(new GapPrediction(p.LandmarkId, p.Confidence, truth[i]));
    }
    return GlobalAveragePrecision.Compute(predictions);
}

float[][] Embed(EmbeddingNetwork model, IReadOnlyList<DatasetImage> images)
{
    using var noGrad = torch.no_grad();
    var result = new List<float[]>();
    foreach (var chunk in images.Chunk(32))
    {
        var pixels = chunk.AsParallel().AsOrdered().Select(i => pipeline.ToTensor(File.ReadAllBytes(i.Path), options.ImageSize)).SelectMany(p => p).ToArray();
        using var input = torch.tensor(pixels, [chunk.Length, 3, options.ImageSize, options.ImageSize]);
        using var output = model.forward(input);
        var flat = output.data<float>().ToArray();
        for (var j = 0; j < chunk.Length; j++)
        {
            result.Add(flat.AsSpan(j * model.Dimension, model.Dimension).ToArray());
        }
    }
    return [.. result];
}

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
