using Landmark.Training;
using TorchSharp;
using Xunit;

namespace Landmark.Training.Tests;

public class ResumableTrainingTests
{
    private static List<TrainingSample> ColourCodedSamples(int count, int classes, int size, int seed) =>
        Tests.ColourCodedSamples.Create(count, classes, size, seed);

    private static TrainingOptions SmallOptions(OptimizerKind optimizer, NeckKind neck = NeckKind.Linear) => new()
    {
        Neck = neck,
        Backbone = new BackboneOptions { Widths = [8, 16], Depths = [1, 1], StemWidth = 8 },
        EmbeddingDimension = 16,
        ImageSize = 32,
        ImageSizeStages = [24],
        BatchSize = 8,
        Epochs = 4,
        WarmupEpochs = 1,
        LearningRate = 0.01,
        Scale = 16,
        Optimizer = optimizer,
        CheckpointIntervalSteps = 2,
        Threads = 1,
    };

    private static float[] Embed(EmbeddingNetwork network, IReadOnlyList<TrainingSample> samples)
    {
        using var noGrad = torch.no_grad();
        var pixels = samples.SelectMany(s => s.Pixels).ToArray();
        using var output = network.forward(torch.tensor(pixels, [samples.Count, 3, 32, 32]));
        return output.data<float>().ToArray();
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW, NeckKind.Linear)]
    [InlineData(OptimizerKind.Sgd, NeckKind.Linear)]
    [InlineData(OptimizerKind.AdamW, NeckKind.None)]
    public void Training_resumed_from_a_mid_epoch_checkpoint_ends_like_the_uninterrupted_run(OptimizerKind optimizer, NeckKind neck)
    {
        var samples = ColourCodedSamples(40, 3, 32, seed: 5);
        var options = SmallOptions(optimizer, neck);

        var fullReports = new List<EpochReport>();
        var checkpoints = new List<TrainingCheckpoint>();
        var full = new MetricLearningTrainer(options).Train(samples, 3,
            new TrainingHooks { Epoch = fullReports.Add, Checkpoint = checkpoints.Add }, resume: null);

        // Steps per epoch = 40 / 8 = 5; a checkpoint every 2 steps and at epoch ends: pick one inside epoch 2.
        var midEpoch = checkpoints.First(c => c.Step == 6);
        var resumedReports = new List<EpochReport>();
        var resumed = new MetricLearningTrainer(options).Train(samples, 3, new TrainingHooks { Epoch = resumedReports.Add }, midEpoch);

        // Epoch 2 was half done in the checkpoint: its figures combine the sums saved before and the steps after.
        Assert.Equal([2, 3, 4], resumedReports.Select(r => r.Epoch));
        foreach (var r in resumedReports)
        {
            var f = fullReports.Single(x => x.Epoch == r.Epoch);
            Assert.True(Math.Abs(f.Loss - r.Loss) <= 1e-4 * Math.Max(1, f.Loss), $"epoch {r.Epoch}: loss {f.Loss:F6} uninterrupted vs {r.Loss:F6} resumed");
            Assert.Equal(f.Accuracy, r.Accuracy, 6);
            Assert.Equal(f.ImageSize, r.ImageSize);
        }
        var a = Embed(full, samples.Take(6).ToList());
        var b = Embed(resumed, samples.Take(6).ToList());
        var maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(maxDiff <= 1e-4, $"embeddings differ by up to {maxDiff:G3}");
    }

    [Fact]
    public void Checkpoints_come_every_interval_and_at_each_epoch_end_with_their_step()
    {
        var samples = ColourCodedSamples(24, 3, 32, seed: 9);
        var options = SmallOptions(OptimizerKind.AdamW);
        options.Epochs = 2;
        options.CheckpointIntervalSteps = 2;
        var checkpoints = new List<TrainingCheckpoint>();
        new MetricLearningTrainer(options).Train(samples, 3, new TrainingHooks { Checkpoint = checkpoints.Add }, resume: null).Dispose();
        // 3 steps per epoch: step 2 (interval), 3 (epoch end), 4 (interval), 6 (epoch end).
        Assert.Equal([2L, 3, 4, 6], checkpoints.Select(c => c.Step));
        Assert.All(checkpoints, c => Assert.Equal(c.Step, BitConverter.ToInt64(c.State, 8)));
    }

    [Fact]
    public void A_checkpoint_for_another_number_of_classes_is_refused()
    {
        var samples = ColourCodedSamples(16, 2, 32, seed: 3);
        var options = SmallOptions(OptimizerKind.AdamW);
        options.Epochs = 1;
        TrainingCheckpoint? checkpoint = null;
        new MetricLearningTrainer(options).Train(samples, 2, new TrainingHooks { Checkpoint = c => checkpoint = c }, resume: null).Dispose();
        var error = Assert.Throws<InvalidDataException>(() => new MetricLearningTrainer(options).Train(ColourCodedSamples(18, 3, 32, 3), 3, null, checkpoint));
        Assert.Contains("2 classes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Progressive_resizing_gives_each_stage_an_equal_share_of_the_epochs()
    {
        var options = new TrainingOptions { ImageSize = 128, ImageSizeStages = [64, 96], Epochs = 6 };
        Assert.Equal([64, 64, 96, 96, 128, 128], Enumerable.Range(0, 6).Select(options.ImageSizeAt));
        Assert.Equal(128, options.MaxImageSize);
        Assert.Equal(128, new TrainingOptions { ImageSize = 128 }.ImageSizeAt(0));
    }

    [Fact]
    public void Validation_runs_after_each_epoch_and_its_figures_reach_the_report()
    {
        var samples = ColourCodedSamples(24, 3, 32, seed: 1);
        var options = SmallOptions(OptimizerKind.AdamW);
        options.Epochs = 2;
        var validations = 0;
        var reports = new List<EpochReport>();
        new MetricLearningTrainer(options).Train(samples, 3, new TrainingHooks
        {
            Validate = network =>
            {
                Assert.False(network.training);
                validations++;
                return new ValidationReport(0.25 * validations, 0.5);
            },
            Epoch = reports.Add,
        }, resume: null).Dispose();
        Assert.Equal(2, validations);
        Assert.Equal([0.25, 0.5], reports.Select(r => r.ValidationGap!.Value));
    }
}
