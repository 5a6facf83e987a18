using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Threading.Channels;
using TorchSharp;
using static TorchSharp.torch;

namespace Landmark.Training;

public enum OptimizerKind
{
    AdamW,
    Sgd,
}

/// <summary>Every training setting in one place (bound from <c>Landmark:Training</c>, overridable from the CLI and gRPC).</summary>
public sealed class TrainingOptions
{
    public const string SectionName = "Landmark:Training";

    public BackboneOptions Backbone { get; set; } = new();

    [Range(8, 4096)]
    public int EmbeddingDimension { get; set; } = 512;

    public HeadKind Head { get; set; } = HeadKind.SubCenterArcFace;

    [Range(1, 10)]
    public int SubCenters { get; set; } = 3;

    [Range(1.0, 128.0)]
    public double Scale { get; set; } = 30;

    [Range(0.0, 1.0)]
    public double MarginLow { get; set; } = 0.05;

    [Range(0.0, 1.0)]
    public double MarginHigh { get; set; } = 0.5;

    [Range(16, 1024)]
    public int ImageSize { get; set; } = 128;

    [Range(1, 1024)]
    public int BatchSize { get; set; } = 32;

    [Range(1, 10_000)]
    public int Epochs { get; set; } = 10;

    [Range(0, 100)]
    public int WarmupEpochs { get; set; } = 1;

    public OptimizerKind Optimizer { get; set; } = OptimizerKind.AdamW;

    [Range(1e-6, 10.0)]
    public double LearningRate { get; set; } = 2e-3;

    [Range(0.0, 1.0)]
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>Sample classes uniformly (long-tail friendly) instead of images uniformly.</summary>
    public bool ClassBalanced { get; set; } = true;

    public int Seed { get; set; } = 42;
}

/// <summary>One labelled training image as a CHW float tensor in [0,1] (square, any size ≥ <see cref="TrainingOptions.ImageSize"/>).</summary>
public sealed record TrainingSample(float[] Pixels, int Size, int Label);

/// <summary>Progress after each epoch.</summary>
public sealed record EpochReport(int Epoch, double Loss, double Accuracy, double ImagesPerSecond, double LearningRate);

/// <summary>
/// Metric-learning training on in-memory samples: class-balanced sampling, augmentation (random resized crop, flip,
/// colour jitter, cut-out) on a background producer, (sub-center) ArcFace or softmax head, AdamW or SGD with a cosine
/// schedule and linear warm-up.
/// </summary>
public sealed class MetricLearningTrainer(TrainingOptions options)
{
    public TrainingOptions Options { get; } = options;

    public EmbeddingNetwork Train(IReadOnlyList<TrainingSample> samples, int classes, Action<EpochReport>? onEpoch = null,
        CancellationToken cancellationToken = default)
    {
        torch.manual_seed(Options.Seed);
        var network = new EmbeddingNetwork(Options.Backbone, Options.EmbeddingDimension);
        var counts = Enumerable.Range(0, classes).Select(c => Math.Max(1, samples.Count(s => s.Label == c))).ToArray();
        MetricHead head = Options.Head switch
        {
            HeadKind.Softmax => new SoftmaxHead(Options.EmbeddingDimension, classes),
            HeadKind.ArcFace => new ArcMarginHead(Options.EmbeddingDimension, classes, Options.Scale, AdaptiveMargins.FromClassCounts(counts, Options.MarginLow, Options.MarginHigh)),
            _ => new ArcMarginHead(Options.EmbeddingDimension, classes, Options.Scale, AdaptiveMargins.FromClassCounts(counts, Options.MarginLow, Options.MarginHigh), Options.SubCenters),
        };
        var parameters = network.parameters().Concat(head.parameters()).ToList();
        optim.Optimizer optimizer = Options.Optimizer == OptimizerKind.Sgd
            ? optim.SGD(parameters, Options.LearningRate, momentum: 0.9, weight_decay: Options.WeightDecay, nesterov: true)
            : optim.AdamW(parameters, Options.LearningRate, weight_decay: Options.WeightDecay);

        var stepsPerEpoch = Math.Max(1, samples.Count / Options.BatchSize);
        var totalSteps = (long)stepsPerEpoch * Options.Epochs;
        var warmup = (long)stepsPerEpoch * Options.WarmupEpochs;
        var byClass = Enumerable.Range(0, classes).Select(c => samples.Where(s => s.Label == c).ToArray()).ToArray();
        var nonEmpty = Enumerable.Range(0, classes).Where(c => byClass[c].Length > 0).ToArray();

        var batches = Channel.CreateBounded<(Tensor Images, Tensor Labels)>(2);
        var producer = Task.Run(async () =>
        {
            var producerRandom = new Random(Options.Seed + 1);
            try
            {
                for (long step = 0; step < totalSteps; step++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var picked = new TrainingSample[Options.BatchSize];
                    for (var i = 0; i < picked.Length; i++)
                    {
                        if (Options.ClassBalanced)
                        {
                            var members = byClass[nonEmpty[producerRandom.Next(nonEmpty.Length)]];
                            picked[i] = members[producerRandom.Next(members.Length)];
                        }
                        else
                        {
                            picked[i] = samples[producerRandom.Next(samples.Count)];
                        }
                    }
                    await batches.Writer.WriteAsync(Augment(picked, producerRandom), cancellationToken);
                }
                batches.Writer.Complete();
            }
            catch (Exception ex)
            {
                batches.Writer.Complete(ex);
            }
        }, cancellationToken);

        network.train();
        head.train();
        long globalStep = 0;
        for (var epoch = 0; epoch < Options.Epochs; epoch++)
        {
            var stopwatch = Stopwatch.StartNew();
            double lossSum = 0, correct = 0, seen = 0, lr = 0;
            for (var s = 0; s < stepsPerEpoch; s++)
            {
                var (images, labels) = batches.Reader.ReadAsync(cancellationToken).AsTask().GetAwaiter().GetResult();
                using var scope = NewDisposeScope();
                lr = CosineWarmup.LearningRate(globalStep++, totalSteps, warmup, Options.LearningRate, Options.LearningRate * 0.01);
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = lr;
                }
                optimizer.zero_grad();
                var logits = head.forward(network.Features(images), labels);
                var loss = nn.functional.cross_entropy(logits, labels);
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * labels.shape[0];
                correct += logits.argmax(1).eq(labels).sum().item<long>();
                seen += labels.shape[0];
                images.Dispose();
                labels.Dispose();
            }
            onEpoch?.Invoke(new EpochReport(epoch + 1, lossSum / seen, correct / seen, seen / stopwatch.Elapsed.TotalSeconds, lr));
        }
        producer.GetAwaiter().GetResult();
        network.eval();
        return network;
    }

    /// <summary>Random resized crop, horizontal flip, colour jitter and cut-out, then a [B,3,S,S] batch.</summary>
    private (Tensor Images, Tensor Labels) Augment(TrainingSample[] picked, Random random)
    {
        var size = Options.ImageSize;
        var output = new float[picked.Length * 3 * size * size];
        for (var i = 0; i < picked.Length; i++)
        {
            var sample = picked[i];
            var n = sample.Size;
            double area, aspect;
            int cw, ch, x0, y0;
            {
                area = 0.45 + (random.NextDouble() * 0.55);
                aspect = Math.Exp(Math.Log(3.0 / 4) + (random.NextDouble() * (Math.Log(4.0 / 3) - Math.Log(3.0 / 4))));
                cw = Math.Clamp((int)Math.Round(n * Math.Sqrt(area * aspect)), 8, n);
                ch = Math.Clamp((int)Math.Round(n * Math.Sqrt(area / aspect)), 8, n);
                x0 = random.Next(n - cw + 1);
                y0 = random.Next(n - ch + 1);
            }
            bool flip;
            float brightness, contrast;
            var gains = new float[3];
            int cut, cx, cy;
            {
                flip = random.NextDouble() < 0.5;
                brightness = (float)(random.NextDouble() * 0.4) - 0.2f;
                contrast = 0.8f + (float)(random.NextDouble() * 0.4);
                for (var c = 0; c < 3; c++)
                {
                    gains[c] = 0.9f + (float)(random.NextDouble() * 0.2);
                }
                cut = random.NextDouble() < 0.5 ? size / 4 : 0;
                cx = random.Next(size);
                cy = random.Next(size);
            }
            var plane = size * size;
            var dst = output.AsSpan(i * 3 * plane, 3 * plane);
            for (var c = 0; c < 3; c++)
            {
                for (var y = 0; y < size; y++)
                {
                    var sy = y0 + (int)((y + 0.5) * ch / size);
                    for (var x = 0; x < size; x++)
                    {
                        var xx = flip ? size - 1 - x : x;
                        var sx = x0 + (int)((xx + 0.5) * cw / size);
                        var v = sample.Pixels[(c * n * n) + (Math.Min(sy, n - 1) * n) + Math.Min(sx, n - 1)];
                        v = ((v - 0.5f) * contrast) + 0.5f + brightness;
                        v *= gains[c];
                        if (cut > 0 && Math.Abs(x - cx) < cut / 2 && Math.Abs(y - cy) < cut / 2)
                        {
                            v = 0.5f;
                        }
                        dst[(c * plane) + (y * size) + x] = Math.Clamp(v, 0f, 1f);
                    }
                }
            }
        }
        return (torch.tensor(output, [picked.Length, 3, size, size]), torch.tensor(picked.Select(p => (long)p.Label).ToArray()));
    }
}
