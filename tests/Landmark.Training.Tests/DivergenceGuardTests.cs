using Landmark.Training;
using TorchSharp;
using Xunit;

namespace Landmark.Training.Tests;

/// <summary>Non-finite losses and gradients are caught, not trained on: poisoned batches (images with NaN pixels) are
/// skipped, and a run that keeps producing them fails with the step and the cause.</summary>
public class DivergenceGuardTests
{
    private static List<TrainingSample> Samples(int count, int classes, int size, int seed, Func<int, bool> poisoned) =>
        ColourCodedSamples.Create(count, classes, size, seed, poisoned);

    private static TrainingOptions Options(int epochs) => new()
    {
        Backbone = new BackboneOptions { Widths = [8, 16], Depths = [1, 1], StemWidth = 8 },
        EmbeddingDimension = 16,
        ImageSize = 32,
        BatchSize = 8,
        Epochs = epochs,
        WarmupEpochs = 1,
        LearningRate = 0.01,
        Scale = 16,
        Threads = 1,
        ClassBalanced = false,
        NonFiniteStepsBeforeRestore = 2,
        MaxNonFiniteSteps = 40,
    };

    [Fact]
    public void Batches_with_nan_pixels_are_skipped_and_training_ends_with_finite_weights()
    {
        // One poisoned image in 20: about a third of the batches of 8 contain one.
        var samples = Samples(80, 2, 32, seed: 3, poisoned: n => n % 20 == 7);
        var skipped = new List<(long Step, string Cause)>();
        var epochs = new List<EpochReport>();
        var network = new MetricLearningTrainer(Options(4)).Train(samples, 2,
            new TrainingHooks { NonFinite = (step, cause) => skipped.Add((step, cause)), Epoch = epochs.Add }, null);

        Assert.NotEmpty(skipped);
        Assert.All(skipped, s => Assert.Equal("loss NaN", s.Cause));
        Assert.Equal(4, epochs.Count);
        Assert.All(epochs, e => Assert.True(double.IsFinite(e.Loss), $"epoch {e.Epoch} loss {e.Loss}"));
        using var noGrad = torch.no_grad();
        var clean = samples.Where((_, n) => n % 20 != 7).Take(8).ToList();
        using var output = network.forward(torch.tensor(clean.SelectMany(s => s.Pixels).ToArray(), [clean.Count, 3, 32, 32]));
        Assert.All(output.data<float>().ToArray(), v => Assert.True(float.IsFinite(v)));
        Assert.All(network.parameters(), p => Assert.False(p.isnan().any().item<bool>(), "a weight is NaN"));
    }

    [Fact]
    public void Training_that_keeps_producing_nan_fails_with_the_step_and_the_cause()
    {
        var samples = Samples(40, 2, 32, seed: 4, poisoned: _ => true);
        var options = Options(3);
        options.MaxNonFiniteSteps = 5;
        var error = Assert.Throws<TrainingDivergedException>(() => new MetricLearningTrainer(options).Train(samples, 2));
        Assert.Equal(5, error.Step);
        Assert.StartsWith("diverged at step 5: loss NaN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gradient_clipping_keeps_a_huge_learning_rate_from_producing_non_finite_weights()
    {
        var samples = Samples(40, 2, 32, seed: 5, poisoned: _ => false);
        var options = Options(2);
        options.LearningRate = 5;
        options.Optimizer = OptimizerKind.Sgd;
        options.GradientClipNorm = 1;
        var skipped = 0;
        var network = new MetricLearningTrainer(options).Train(samples, 2, new TrainingHooks { NonFinite = (_, _) => skipped++ }, null);
        Assert.All(network.parameters(), p => Assert.True(p.isfinite().all().item<bool>(), "a weight is not finite"));
        Assert.True(skipped < options.MaxNonFiniteSteps);
    }
}
