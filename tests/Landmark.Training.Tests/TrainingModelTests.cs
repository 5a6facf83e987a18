using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Landmark.Training.Tests;

public class TrainingModelTests
{
    private static EmbeddingNetwork Network(BackboneFamily family, int seed, int dimension = 32)
    {
        torch.manual_seed(seed);
        var network = new EmbeddingNetwork(new BackboneOptions { Family = family, Widths = [8, 16, 24], Depths = [1, 2, 1], StemWidth = 8, Expansion = 2 }, dimension);
        // Non-trivial batch-norm statistics, so that folding them into the export is exercised.
        using (torch.no_grad())
        {
            foreach (var (name, buffer) in network.named_buffers())
            {
                if (name.EndsWith("running_mean", StringComparison.Ordinal))
                {
                    buffer.copy_(torch.randn(buffer.shape) * 0.1);
                }
                else if (name.EndsWith("running_var", StringComparison.Ordinal))
                {
                    buffer.copy_(torch.rand(buffer.shape) + 0.5);
                }
            }
            foreach (var (name, parameter) in network.named_parameters())
            {
                if (name.Contains("bn", StringComparison.Ordinal) || name.Contains("Norm", StringComparison.Ordinal))
                {
                    parameter.copy_(torch.rand(parameter.shape) + 0.5);
                }
            }
        }
        network.eval();
        return network;
    }

    [Theory]
    [InlineData(BackboneFamily.ResNet, 32)]
    [InlineData(BackboneFamily.MobileNet, 32)]
    [InlineData(BackboneFamily.ResNet, 0)] // no neck: the GeM-pooled features (24 channels) are the embedding
    public void Exported_onnx_model_gives_the_same_embeddings_as_torchsharp(BackboneFamily family, int neckDimension)
    {
        const int size = 64;
        var network = Network(family, 11, neckDimension);
        Assert.Equal(neckDimension > 0, network.HasNeck);
        Assert.Equal(neckDimension > 0 ? neckDimension : 24, network.Dimension);
        var input = torch.rand(3, 3, size, size);
        var expected = network.forward(input).data<float>().ToArray();

        var onnx = OnnxExporter.Export(network, size);
        var manifest = new ModelManifest { Version = "test", Kind = ModelManifest.KindTrained, InputSize = size, Dimension = network.Dimension };
        using var model = new OnnxEmbeddingModel(onnx, manifest, new EmbedderOptions());
        var actual = model.Embed(input.data<float>().ToArray(), 3).SelectMany(v => v).ToArray();

        Assert.Equal(expected.Length, actual.Length);
        var maxDiff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1e-4, $"max |TorchSharp − ONNX Runtime| = {maxDiff}");
    }

    [Fact]
    public void Embeddings_are_unit_length_with_the_configured_dimension()
    {
        var network = Network(BackboneFamily.ResNet, 3);
        var e = network.forward(torch.rand(2, 3, 64, 64));
        Assert.Equal([2L, 32L], e.shape);
        var norms = e.norm(1).data<float>().ToArray();
        Assert.All(norms, n => Assert.Equal(1.0, n, 4));
    }

    [Fact]
    public void Adaptive_margins_give_rare_classes_the_largest_margin()
    {
        var margins = AdaptiveMargins.FromClassCounts([1000, 100, 10, 1]);
        Assert.Equal(0.05, margins[0], 9);
        Assert.Equal(0.5, margins[3], 9);
        Assert.True(margins[1] < margins[2]);
        Assert.All(AdaptiveMargins.FromClassCounts([7, 7]), m => Assert.Equal(0.275, m, 9));
        Assert.Throws<ArgumentException>(() => AdaptiveMargins.FromClassCounts([3, 0]));
    }

    [Fact]
    public void Cosine_schedule_warms_up_linearly_then_decays_to_the_floor()
    {
        Assert.Equal(0.01, CosineWarmup.LearningRate(0, 100, 10, 0.1), 9);
        Assert.Equal(0.1, CosineWarmup.LearningRate(9, 100, 10, 0.1), 9);
        Assert.Equal(0.1, CosineWarmup.LearningRate(10, 100, 10, 0.1), 9);
        Assert.Equal(0.0505, CosineWarmup.LearningRate(55, 100, 10, 0.1, 0.001), 9);
        Assert.Equal(0.001, CosineWarmup.LearningRate(100, 100, 10, 0.1, 0.001), 9);
        var rates = Enumerable.Range(10, 90).Select(s => CosineWarmup.LearningRate(s, 100, 10, 0.1)).ToArray();
        Assert.True(rates.Zip(rates.Skip(1), (a, b) => a >= b).All(x => x));
    }

    [Fact]
    public void Arcface_widens_only_the_target_angle_by_its_class_margin()
    {
        torch.manual_seed(5);
        var head = new ArcMarginHead(4, 3, scale: 10, marginPerClass: [0.1, 0.2, 0.3]);
        var features = torch.randn(2, 4);
        var labels = torch.tensor(new long[] { 2, 0 });
        var logits = head.forward(features, labels).data<float>().ToArray();
        var cos = head.Cosine(features).data<float>().ToArray();
        Assert.Equal(10 * Math.Cos(Math.Acos(cos[2]) + 0.3), logits[2], 4);
        Assert.Equal(10 * cos[1], logits[1], 4);
        Assert.Equal(10 * Math.Cos(Math.Acos(cos[3]) + 0.1), logits[3], 4);
        Assert.Equal(10 * cos[4], logits[4], 4);
    }

    [Fact]
    public void Sub_center_arcface_takes_the_best_of_the_class_centres()
    {
        torch.manual_seed(9);
        var head = new ArcMarginHead(6, 4, scale: 30, marginPerClass: [0.2, 0.2, 0.2, 0.2], subCenters: 3);
        var cos = head.Cosine(torch.randn(5, 6));
        Assert.Equal([5L, 4L], cos.shape);
        Assert.True(cos.max().item<float>() <= 1.0001f);
    }

    [Fact]
    public void A_few_training_steps_reduce_the_arcface_loss_on_separable_data()
    {
        torch.manual_seed(1);
        var network = new EmbeddingNetwork(new BackboneOptions { Widths = [8, 16], Depths = [1, 1], StemWidth = 8 }, dimension: 16);
        var head = new ArcMarginHead(16, 3, scale: 16, marginPerClass: AdaptiveMargins.FromClassCounts([10, 10, 10]), subCenters: 2);
        // Three classes told apart by which colour channel is bright.
        var labels = torch.tensor(Enumerable.Range(0, 24).Select(i => (long)(i % 3)).ToArray());
        var images = torch.rand(24, 3, 32, 32) * 0.3;
        for (var i = 0; i < 24; i++)
        {
            images[i, i % 3] += 0.7;
        }
        var parameters = network.parameters().Concat(head.parameters());
        var optimizer = torch.optim.AdamW(parameters, lr: 0.01);
        network.train();
        double first = 0, last = 0;
        for (var step = 0; step < 25; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(head.forward(network.Features(images), labels), labels);
            loss.backward();
            optimizer.step();
            if (step == 0)
            {
                first = loss.item<float>();
            }
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.7, $"loss {first:F3} → {last:F3}");
    }
}

public class MetricLearningTrainerTests
{
    [Fact]
    public void Training_on_colour_coded_classes_learns_embeddings_that_separate_them()
    {
        var random = new Random(2);
        const int size = 40;
        TrainingSample Sample(int label)
        {
            var pixels = new float[3 * size * size];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (float)random.NextDouble() * 0.3f;
            }
            for (var i = 0; i < size * size; i++)
            {
                pixels[(label * size * size) + i] += 0.6f;
            }
            return new TrainingSample(pixels, size, label);
        }
        var samples = Enumerable.Range(0, 48).Select(i => Sample(i % 3)).ToList();
        var reports = new List<EpochReport>();
        var trainer = new MetricLearningTrainer(new TrainingOptions
        {
            Backbone = new BackboneOptions { Widths = [8, 16], Depths = [1, 1], StemWidth = 8 },
            EmbeddingDimension = 16,
            ImageSize = 32,
            BatchSize = 16,
            Epochs = 6,
            WarmupEpochs = 1,
            LearningRate = 0.01,
            Scale = 16,
        });
        var network = trainer.Train(samples, 3, reports.Add);

        Assert.Equal(6, reports.Count);
        Assert.True(reports[^1].Loss < reports[0].Loss, $"loss {reports[0].Loss:F3} → {reports[^1].Loss:F3}");
        Assert.All(reports, r => Assert.True(r.ImagesPerSecond > 0));
        // Same-class embeddings are closer than different-class ones.
        using var noGrad = torch.no_grad();
        var probe = samples.Take(6).ToList();
        var crop = probe.Select(s => CenterCrop(s.Pixels, size, 32)).SelectMany(p => p).ToArray();
        var e = network.forward(torch.tensor(crop, [6, 3, 32, 32]));
        var sim = e.matmul(e.t()).data<float>().ToArray();
        // probe labels: 0,1,2,0,1,2 → (0,3) same class, (0,1) different.
        Assert.True(sim[(0 * 6) + 3] > sim[(0 * 6) + 1], $"same {sim[3]:F3} vs different {sim[1]:F3}");
    }

    private static float[] CenterCrop(float[] pixels, int from, int to)
    {
        var o = (from - to) / 2;
        var result = new float[3 * to * to];
        for (var c = 0; c < 3; c++)
        {
            for (var y = 0; y < to; y++)
            {
                for (var x = 0; x < to; x++)
                {
                    result[(c * to * to) + (y * to) + x] = pixels[(c * from * from) + ((y + o) * from) + x + o];
                }
            }
        }
        return result;
    }
}
