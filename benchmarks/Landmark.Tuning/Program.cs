using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Microsoft.Extensions.Options;

// Usage: dotnet run --project benchmarks/Landmark.Tuning -c Release -- [DATASET_DIR] [--flip] [--dba K] [--qe K] [--alpha A]
//        (default model: the pretrained ImageNet ResNet-18, as a fresh platform starts with)
//        [--baseline] [--size 224] [--colour 1] [--fine 1] [--coarse 1]   the training-free descriptor instead
//        [--model DIR]   a registered model instead of the baseline: DIR holds its model.onnx and manifest.json
//                        (e.g. data/objects/models/<version> of an embedded platform)
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var datasetDir = args.Where((a, i) => i == 0 || args[i - 1] != "--model").FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) && !float.TryParse(a, out _))
    ?? Path.Combine("..", "shared", "datasets", "landmarks-mini");
float Arg(string name, float fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? float.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var defaultsOfBaseline = new BaselineOptions();
var baselineOptions = new BaselineOptions
{
    InputSize = (int)Arg("--size", defaultsOfBaseline.InputSize),
    ColourWeight = Arg("--colour", defaultsOfBaseline.ColourWeight),
    FineEdgeWeight = Arg("--fine", defaultsOfBaseline.FineEdgeWeight),
    CoarseEdgeWeight = Arg("--coarse", defaultsOfBaseline.CoarseEdgeWeight),
};
var modelIndex = Array.IndexOf(args, "--model");
var artifact = modelIndex >= 0 && modelIndex + 1 < args.Length
    ? new ModelArtifact(File.ReadAllBytes(Path.Combine(args[modelIndex + 1], "model.onnx")),
        System.Text.Json.JsonSerializer.Deserialize<ModelManifest>(File.ReadAllBytes(Path.Combine(args[modelIndex + 1], "manifest.json")),
            new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!)
    : args.Contains("--baseline") ? BaselineModel.Build(baselineOptions) : PretrainedModel.Build(PretrainedBackbone.LoadImageNetResNet18());
var embedderOptions = Options.Create(new EmbedderOptions { MaxBatchSize = 16, FlipTestTimeAugmentation = args.Contains("--flip") });
await using var embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), embedderOptions);
embedder.SwapModel(new OnnxEmbeddingModel(artifact.OnnxBytes, artifact.Manifest, embedderOptions.Value));

var dataset = DatasetReader.Read(datasetDir);
var (queries, _) = dataset.ReadSplit("val");
var stopwatch = Stopwatch.StartNew();
async Task<float[][]> EmbedAll(IReadOnlyList<DatasetImage> images) =>
    await Task.WhenAll(images.Select(async i => await embedder.EmbedAsync(await File.ReadAllBytesAsync(i.Path))));
var gallery = await EmbedAll(dataset.Train);
var distractors = await EmbedAll(dataset.NonLandmarks);
var query = await EmbedAll(queries);
var total = gallery.Length + distractors.Length + query.Length;
Console.WriteLine($"model {artifact.Manifest.Version} ({artifact.Manifest.Dimension}-d): embedded {total} images in {stopwatch.Elapsed.TotalSeconds:F1}s ({total / stopwatch.Elapsed.TotalSeconds:F1}/s)");

// Database-side augmentation (DBA) and alpha query expansion (alpha-QE), as the GLR 2019/2020 solutions used them:
// each gallery vector replaced by the similarity^alpha-weighted mean of itself and its k nearest gallery neighbours, and
// each query by the weighted mean of itself and its k nearest (augmented) gallery images; both re-normalised.
float[][] Augment(float[][] vectors, float[][] reference, int k, double alpha, bool includeSelf)
{
    if (k <= 0)
    {
        return vectors;
    }
    return vectors.AsParallel().AsOrdered().Select(v =>
    {
        var nearest = reference.Select((r, j) => (s: TensorPrimitives.Dot(v, r), j)).OrderByDescending(t => t.s).Skip(includeSelf ? 1 : 0).Take(k);
        var sum = (float[])v.Clone();
        foreach (var (sim, j) in nearest)
        {
            var w = (float)Math.Pow(Math.Max(sim, 0), alpha);
            TensorPrimitives.MultiplyAdd(reference[j], w, sum, sum);
        }
        TensorPrimitives.Divide(sum, TensorPrimitives.Norm(sum), sum);
        return sum;
    }).ToArray();
}
var dbaK = (int)Arg("--dba", 0);
var qeK = (int)Arg("--qe", 0);
var alpha = Arg("--alpha", 3);
if (dbaK > 0)
{
    gallery = Augment(gallery, gallery, dbaK, alpha, includeSelf: true);
}
if (qeK > 0)
{
    query = Augment(query, gallery, qeK, alpha, includeSelf: false);
}
Console.WriteLine($"flip TTA {(args.Contains("--flip") ? "on" : "off")}, DBA k={dbaK}, QE k={qeK}, alpha={alpha}");

// Similarities once.
var toGallery = query.Select(q => gallery.Select(g => (double)TensorPrimitives.Dot(q, g)).ToArray()).ToArray();
var toDistractors = query.Select(q => distractors.Select(d => (double)TensorPrimitives.Dot(q, d)).OrderDescending().ToArray()).ToArray();
var top1 = queries.Select((q, i) => q.LandmarkId is not null && dataset.Train[Array.IndexOf(toGallery[i], toGallery[i].Max())].LandmarkId == q.LandmarkId).Count(x => x);
Console.WriteLine($"nearest-neighbour top-1 on val landmark queries: {top1}/{queries.Count(q => q.LandmarkId is not null)}");

var results = new List<(GapResult Result, ScorerOptions Options)>();
foreach (var voting in new[] { 1, 3, 5, 10, 20 })
foreach (var power in new[] { 1.0, 3, 9 })
foreach (var weight in new[] { 0.0, 0.5, 1.0, 1.5 })
foreach (var gain in new[] { 5.0, 10, 20, 40 })
{
    var options = new ScorerOptions { VotingNeighbours = voting, Power = power, NonLandmarkWeight = weight, Gain = gain, NonLandmarkTopM = 5 };
    var scorer = new KnnScorer(options);
    var predictions = new List<GapPrediction>();
    for (var i = 0; i < queries.Count; i++)
    {
        var neighbours = toGallery[i].Select((s, j) => (s, j)).OrderByDescending(t => t.s).Take(voting)
            .Select(t => new GalleryNeighbour(dataset.Train[t.j].Id, dataset.Train[t.j].LandmarkId!, t.s)).ToList();
        var p = scorer.Score(neighbours, toDistractors[i]);
        predictions.Add(new GapPrediction(p.LandmarkId, p.Confidence, queries[i].LandmarkId));
    }
    results.Add((GlobalAveragePrecision.Compute(predictions), options));
}
foreach (var (r, o) in results.OrderByDescending(r => r.Result.Gap).Take(10).Concat(results.Where(r => r.Options.NonLandmarkWeight > 0).OrderByDescending(r => r.Result.Gap).Take(5)))
{
    Console.WriteLine($"GAP={r.Gap:F4} accuracy={r.Accuracy:F4}  VotingNeighbours={o.VotingNeighbours} Power={o.Power} NonLandmarkWeight={o.NonLandmarkWeight} Gain={o.Gain}");
}
var defaults = new ScorerOptions();
var current = results.First(r => r.Options.VotingNeighbours == defaults.VotingNeighbours && r.Options.Power == defaults.Power && r.Options.NonLandmarkWeight == defaults.NonLandmarkWeight && r.Options.Gain == defaults.Gain);
Console.WriteLine($"current defaults: GAP={current.Result.Gap:F4} accuracy={current.Result.Accuracy:F4}");
