using System.Diagnostics;
using System.Threading.Channels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Landmark.Training;

/// <summary>
/// Metric-learning training on in-memory samples: class-balanced sampling, augmentation (random resized crop, flip,
/// colour jitter, cut-out) prepared by background loader threads, progressive image sizes, (sub-center) ArcFace or
/// softmax head, AdamW or SGD with a cosine schedule and linear warm-up.
/// <para>
/// Resumable: the batch of step s is a pure function of (seed, s), so a run restored from a checkpoint (weights,
/// optimizer moments, step, the running sums of the epoch in progress) continues exactly where the killed one was.
/// </para>
/// </summary>
public sealed class MetricLearningTrainer(TrainingOptions options)
{
    private const int CheckpointMagic = 0x4B434D4C; // "LMCK"
    private const int CheckpointFormat = 1;

    public TrainingOptions Options { get; } = options;

    public int StepsPerEpoch(int sampleCount) => Math.Max(1, sampleCount / Options.BatchSize);

    public EmbeddingNetwork Train(IReadOnlyList<TrainingSample> samples, int classes, Action<EpochReport>? onEpoch = null,
        CancellationToken cancellationToken = default) =>
        Train(samples, classes, new TrainingHooks { Epoch = onEpoch }, null, cancellationToken);

    /// <summary>Trains (or, given <paramref name="resume"/>, continues training) and returns the network in eval mode.</summary>
    public EmbeddingNetwork Train(IReadOnlyList<TrainingSample> samples, int classes, TrainingHooks? hooks, TrainingCheckpoint? resume,
        CancellationToken cancellationToken = default)
    {
        hooks ??= new TrainingHooks();
        if (samples.Count == 0)
        {
            throw new ArgumentException("no training images", nameof(samples));
        }
        if (Options.Threads > 0)
        {
            torch.set_num_threads(Options.Threads);
        }
        var device = ResolveDevice(Options.Device);
        if (device.type == DeviceType.CPU)
        {
            CpuNumerics.EnsureTrustworthy();
        }
        torch.manual_seed(Options.Seed);
        var network = new EmbeddingNetwork(Options.Backbone, Options.Neck == NeckKind.None ? 0 : Options.EmbeddingDimension);
        var dimension = network.Dimension;
        var counts = Enumerable.Range(0, classes).Select(c => Math.Max(1, samples.Count(s => s.Label == c))).ToArray();
        MetricHead head = Options.Head switch
        {
            HeadKind.Softmax => new SoftmaxHead(dimension, classes),
            HeadKind.ArcFace => new ArcMarginHead(dimension, classes, Options.Scale, AdaptiveMargins.FromClassCounts(counts, Options.MarginLow, Options.MarginHigh)),
            _ => new ArcMarginHead(dimension, classes, Options.Scale, AdaptiveMargins.FromClassCounts(counts, Options.MarginLow, Options.MarginHigh), Options.SubCenters),
        };
        network.to(device);
        head.to(device);
        // Two parameter groups: the backbone (pretrained: a share of the rate, frozen leading stages left out) and the
        // neck + head at the full rate.
        var pretrained = network.Pretrained;
        var frozen = new HashSet<IntPtr>();
        foreach (var parameter in pretrained?.ParametersOfStages(Options.Backbone.FrozenStages) ?? [])
        {
            parameter.requires_grad_(false);
            frozen.Add(parameter.Handle);
        }
        var backboneParameters = network.BackboneParameters.Where(p => !frozen.Contains(p.Handle)).ToList();
        var headParameters = network.NeckParameters.Concat(head.parameters()).ToList();
        var trainable = backboneParameters.Concat(headParameters).ToList();
        var backboneFactor = pretrained is null ? 1.0 : Options.BackboneLearningRateFactor;
        var headWarmupSteps = pretrained is null ? 0 : (long)StepsPerEpoch(samples.Count) * Options.HeadWarmupEpochs;
        optim.Optimizer optimizer = Options.Optimizer == OptimizerKind.Sgd
            ? optim.SGD([new SGD.ParamGroup(backboneParameters, Options.LearningRate, 0.9, 0, Options.WeightDecay, true, false),
                new SGD.ParamGroup(headParameters, Options.LearningRate, 0.9, 0, Options.WeightDecay, true, false)], Options.LearningRate,
                momentum: 0.9, weight_decay: Options.WeightDecay, nesterov: true)
            : optim.AdamW([new AdamW.ParamGroup(backboneParameters, Options.LearningRate, 0.9, 0.999, 1e-8, Options.WeightDecay, false, false),
                new AdamW.ParamGroup(headParameters, Options.LearningRate, 0.9, 0.999, 1e-8, Options.WeightDecay, false, false)], Options.LearningRate,
                weight_decay: Options.WeightDecay);
        var groups = optimizer.ParamGroups.ToArray();

        var stepsPerEpoch = StepsPerEpoch(samples.Count);
        var totalSteps = (long)stepsPerEpoch * Options.Epochs;
        var warmup = (long)stepsPerEpoch * Options.WarmupEpochs;
        long startStep = 0;
        var sums = new EpochSums();
        if (resume is not null)
        {
            (startStep, sums) = Restore(resume.State, network, head, optimizer, classes);
        }
        var byClass = Enumerable.Range(0, classes).Select(c => samples.Where(s => s.Label == c).ToArray()).ToArray();
        var nonEmpty = Enumerable.Range(0, classes).Where(c => byClass[c].Length > 0).ToArray();

        using var stopProducer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var batches = Channel.CreateBounded<(Tensor Images, Tensor Labels)>(Options.PrefetchBatches);
        var producer = Task.Run(async () =>
        {
            try
            {
                for (var step = startStep; step < totalSteps; step++)
                {
                    stopProducer.Token.ThrowIfCancellationRequested();
                    var random = StepRandom(step);
                    var picked = new TrainingSample[Options.BatchSize];
                    for (var i = 0; i < picked.Length; i++)
                    {
                        if (Options.ClassBalanced)
                        {
                            var members = byClass[nonEmpty[random.Next(nonEmpty.Length)]];
                            picked[i] = members[random.Next(members.Length)];
                        }
                        else
                        {
                            picked[i] = samples[random.Next(samples.Count)];
                        }
                    }
                    var size = Options.ImageSizeAt((int)(step / stepsPerEpoch));
                    await batches.Writer.WriteAsync(Augment(picked, size, random), stopProducer.Token);
                }
                batches.Writer.Complete();
            }
            catch (Exception ex)
            {
                batches.Writer.Complete(ex);
            }
        }, CancellationToken.None);

        // Divergence guard: a step whose loss or gradient is not finite is skipped and halves the learning rate; after
        // NonFiniteStepsBeforeRestore such steps in a row the weights and optimizer state go back to the last good
        // checkpoint (the data order continues); past MaxNonFiniteSteps the run fails with the step and the cause.
        var lastGood = Save(startStep, sums, network, head, optimizer, classes);
        var buffers = network.buffers().Concat(head.buffers()).ToArray();
        var nonFiniteInARow = 0;
        var nonFiniteTotal = 0;
        var rateScale = 1.0;
        try
        {
            network.TrainMode();
            head.train();
            var stopwatch = Stopwatch.StartNew();
            var seenSinceStart = 0L;
            var lr = 0.0;
            for (var step = startStep; step < totalSteps; step++)
            {
                var (images, labels) = batches.Reader.ReadAsync(cancellationToken).AsTask().GetAwaiter().GetResult();
                string? fault = null;
                using (var scope = NewDisposeScope())
                {
                    var x = images.to(device);
                    var y = labels.to(device);
                    lr = CosineWarmup.LearningRate(step, totalSteps, warmup, Options.LearningRate, Options.LearningRate * 0.01) * rateScale;
                    groups[0].LearningRate = step < headWarmupSteps ? 0 : lr * backboneFactor;
                    groups[1].LearningRate = lr;
                    optimizer.zero_grad();
                    // Batch norms update their running statistics in the forward pass, before the loss can be checked:
                    // keep a copy to put back when the step turns out not finite.
                    var statistics = buffers.Select(b => b.clone()).ToArray();
                    var logits = head.forward(network.Features(x, backboneGradients: step >= headWarmupSteps), y);
                    var loss = nn.functional.cross_entropy(logits, y);
                    var lossValue = loss.item<float>();
                    if (!float.IsFinite(lossValue))
                    {
                        fault = $"loss {Describe(lossValue)}";
                    }
                    else
                    {
                        loss.backward();
                        var norm = nn.utils.clip_grad_norm_(step < headWarmupSteps ? headParameters : trainable,
                            Options.GradientClipNorm > 0 ? Options.GradientClipNorm : double.MaxValue);
                        if (!double.IsFinite(norm))
                        {
                            fault = $"gradient norm {Describe(norm)}";
                        }
                        else
                        {
                            optimizer.step();
                            var n = labels.shape[0];
                            sums.Loss += lossValue * n;
                            sums.Correct += logits.argmax(1).eq(y).sum().item<long>();
                            sums.Seen += n;
                            seenSinceStart += n;
                        }
                    }
                    if (fault is not null)
                    {
                        optimizer.zero_grad();
                        using (torch.no_grad())
                        {
                            for (var i = 0; i < buffers.Length; i++)
                            {
                                buffers[i].copy_(statistics[i]);
                            }
                        }
                    }
                }
                images.Dispose();
                labels.Dispose();
                if (fault is not null)
                {
                    nonFiniteTotal++;
                    nonFiniteInARow++;
                    rateScale *= 0.5;
                    hooks.NonFinite?.Invoke(step + 1, fault);
                    if (nonFiniteTotal >= Options.MaxNonFiniteSteps)
                    {
                        throw new TrainingDivergedException(step + 1, fault, nonFiniteTotal);
                    }
                    if (nonFiniteInARow >= Options.NonFiniteStepsBeforeRestore)
                    {
                        // Weights and optimizer moments from the last good checkpoint; step and epoch sums go on.
                        var keepSums = sums;
                        _ = Restore(lastGood, network, head, optimizer, classes);
                        sums = keepSums;
                        network.TrainMode();
                        nonFiniteInARow = 0;
                    }
                }
                else
                {
                    nonFiniteInARow = 0;
                }
                var done = step + 1;
                hooks.Step?.Invoke(done, totalSteps, sums.Loss / Math.Max(1, sums.Seen));
                var epochEnd = done % stepsPerEpoch == 0;
                if (epochEnd)
                {
                    var epoch = (int)(done / stepsPerEpoch);
                    var report = new EpochReport(epoch, sums.Loss / sums.Seen, sums.Correct / sums.Seen,
                        seenSinceStart / Math.Max(1e-9, stopwatch.Elapsed.TotalSeconds), lr)
                    {
                        ImageSize = Options.ImageSizeAt(epoch - 1),
                    };
                    if (hooks.Validate is not null && (epoch % Options.ValidationIntervalEpochs == 0 || epoch == Options.Epochs))
                    {
                        network.eval();
                        using (torch.no_grad())
                        {
                            var validation = hooks.Validate(network);
                            report = report with { ValidationGap = validation.Gap, ValidationAccuracy = validation.Accuracy };
                        }
                        network.TrainMode();
                    }
                    sums = new EpochSums();
                    seenSinceStart = 0;
                    // The report first: a crash between the two replays the epoch's tail from the previous checkpoint
                    // and reports the same epoch again (deterministically the same figures).
                    hooks.Epoch?.Invoke(report);
                    lastGood = Save(done, sums, network, head, optimizer, classes);
                    hooks.Checkpoint?.Invoke(new TrainingCheckpoint(done, epoch, lastGood));
                    stopwatch.Restart();
                }
                else if (done % Options.CheckpointIntervalSteps == 0 && nonFiniteInARow == 0)
                {
                    lastGood = Save(done, sums, network, head, optimizer, classes);
                    hooks.Checkpoint?.Invoke(new TrainingCheckpoint(done, (int)(done / stepsPerEpoch), lastGood));
                }
            }
        }
        finally
        {
            stopProducer.Cancel();
            try
            {
                producer.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
            while (batches.Reader.TryRead(out var left))
            {
                left.Images.Dispose();
                left.Labels.Dispose();
            }
        }
        network.eval();
        network.to(torch.CPU);
        head.Dispose();
        return network;
    }

    private static string Describe(double value) => double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Infinity" : "-Infinity";

    /// <summary>The device named by <paramref name="name"/>: <c>auto</c> is CUDA when present, else the CPU.</summary>
    public static Device ResolveDevice(string name) => name switch
    {
        "auto" => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
        "cpu" => torch.CPU,
        _ => torch.device(name),
    };

    /// <summary>The random source of step <paramref name="step"/>: a pure function of the seed and the step.</summary>
    private Random StepRandom(long step)
    {
        var z = unchecked((ulong)Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)step);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return new Random(unchecked((int)(z ^ (z >> 31))));
    }

    private sealed class EpochSums
    {
        public double Loss;
        public double Correct;
        public long Seen;
    }

    private static byte[] Save(long step, EpochSums sums, EmbeddingNetwork network, MetricHead head, optim.Optimizer optimizer, int classes)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(CheckpointMagic);
            writer.Write(CheckpointFormat);
            writer.Write(step);
            writer.Write(classes);
            writer.Write(sums.Loss);
            writer.Write(sums.Correct);
            writer.Write(sums.Seen);
            network.save(writer);
            head.save(writer);
            ((OptimizerHelper)optimizer).save_state_dict(writer);
        }
        return buffer.ToArray();
    }

    /// <summary>The step a serialised checkpoint was taken at (without loading it).</summary>
    public static TrainingCheckpoint ReadCheckpoint(byte[] state)
    {
        if (state.Length < 16 || BitConverter.ToInt32(state, 0) != CheckpointMagic || BitConverter.ToInt32(state, 4) != CheckpointFormat)
        {
            throw new InvalidDataException("not a training checkpoint of this format");
        }
        return new TrainingCheckpoint(BitConverter.ToInt64(state, 8), 0, state);
    }

    private static (long Step, EpochSums Sums) Restore(byte[] state, EmbeddingNetwork network, MetricHead head, optim.Optimizer optimizer, int classes)
    {
        using var reader = new BinaryReader(new MemoryStream(state, writable: false));
        if (reader.ReadInt32() != CheckpointMagic || reader.ReadInt32() != CheckpointFormat)
        {
            throw new InvalidDataException("not a training checkpoint of this format");
        }
        var step = reader.ReadInt64();
        var savedClasses = reader.ReadInt32();
        if (savedClasses != classes)
        {
            throw new InvalidDataException($"the checkpoint has {savedClasses} classes, the data {classes}");
        }
        var sums = new EpochSums { Loss = reader.ReadDouble(), Correct = reader.ReadDouble(), Seen = reader.ReadInt64() };
        network.load(reader);
        head.load(reader);
        ((OptimizerHelper)optimizer).load_state_dict(reader);
        return (step, sums);
    }

    /// <summary>Random resized crop, horizontal flip, colour jitter and cut-out, then a [B,3,S,S] batch. The random
    /// draws happen in order on this thread; the pixels are filled by <see cref="TrainingOptions.LoaderThreads"/> threads.</summary>
    private (Tensor Images, Tensor Labels) Augment(TrainingSample[] picked, int size, Random random)
    {
        var output = new float[picked.Length * 3 * size * size];
        var plans = new AugmentPlan[picked.Length];
        for (var i = 0; i < picked.Length; i++)
        {
            var n = picked[i].Size;
            var light = Options.Augmentation == AugmentationKind.Light;
            var area = light ? 0.7 + (random.NextDouble() * 0.3) : 0.45 + (random.NextDouble() * 0.55);
            var (low, high) = light ? (0.9, 1 / 0.9) : (3.0 / 4, 4.0 / 3);
            var aspect = Math.Exp(Math.Log(low) + (random.NextDouble() * (Math.Log(high) - Math.Log(low))));
            var cw = Math.Clamp((int)Math.Round(n * Math.Sqrt(area * aspect)), 8, n);
            var ch = Math.Clamp((int)Math.Round(n * Math.Sqrt(area / aspect)), 8, n);
            var x0 = random.Next(n - cw + 1);
            var y0 = random.Next(n - ch + 1);
            var flip = random.NextDouble() < 0.5;
            var brightness = (float)(random.NextDouble() * 0.4) - 0.2f;
            var contrast = 0.8f + (float)(random.NextDouble() * 0.4);
            var gains = new float[3];
            for (var c = 0; c < 3; c++)
            {
                gains[c] = 0.9f + (float)(random.NextDouble() * 0.2);
            }
            var cut = random.NextDouble() < 0.5 && !light ? size / 4 : 0;
            if (light)
            {
                (brightness, contrast) = (0f, 1f);
                Array.Fill(gains, 1f);
            }
            var cx = random.Next(size);
            var cy = random.Next(size);
            plans[i] = new AugmentPlan(cw, ch, x0, y0, flip, brightness, contrast, gains, cut, cx, cy);
        }
        Parallel.For(0, picked.Length, new ParallelOptions { MaxDegreeOfParallelism = Options.LoaderThreads }, i =>
        {
            var sample = picked[i];
            var plan = plans[i];
            var n = sample.Size;
            var plane = size * size;
            var dst = output.AsSpan(i * 3 * plane, 3 * plane);
            for (var c = 0; c < 3; c++)
            {
                var source = sample.Pixels.AsSpan(c * n * n, n * n);
                for (var y = 0; y < size; y++)
                {
                    // Bilinear resampling of the crop (nearest-neighbour aliasing is a domain shift for pretrained nets).
                    var fy = Math.Clamp(plan.Y0 + ((y + 0.5) * plan.Ch / size) - 0.5, 0, n - 1);
                    var y0 = (int)fy;
                    var y1 = Math.Min(y0 + 1, n - 1);
                    var wy = (float)(fy - y0);
                    for (var x = 0; x < size; x++)
                    {
                        var xx = plan.Flip ? size - 1 - x : x;
                        var fx = Math.Clamp(plan.X0 + ((xx + 0.5) * plan.Cw / size) - 0.5, 0, n - 1);
                        var x0 = (int)fx;
                        var x1 = Math.Min(x0 + 1, n - 1);
                        var wx = (float)(fx - x0);
                        var top = (source[(y0 * n) + x0] * (1 - wx)) + (source[(y0 * n) + x1] * wx);
                        var bottom = (source[(y1 * n) + x0] * (1 - wx)) + (source[(y1 * n) + x1] * wx);
                        var v = (top * (1 - wy)) + (bottom * wy);
                        v = ((v - 0.5f) * plan.Contrast) + 0.5f + plan.Brightness;
                        v *= plan.Gains[c];
                        if (plan.Cut > 0 && Math.Abs(x - plan.Cx) < plan.Cut / 2 && Math.Abs(y - plan.Cy) < plan.Cut / 2)
                        {
                            v = 0.5f;
                        }
                        dst[(c * plane) + (y * size) + x] = Math.Clamp(v, 0f, 1f);
                    }
                }
            }
        });
        return (torch.tensor(output, [picked.Length, 3, size, size]), torch.tensor(picked.Select(p => (long)p.Label).ToArray()));
    }

    private sealed record AugmentPlan(int Cw, int Ch, int X0, int Y0, bool Flip, float Brightness, float Contrast, float[] Gains, int Cut, int Cx, int Cy);
}
