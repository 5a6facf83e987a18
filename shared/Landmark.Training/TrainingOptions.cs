using System.ComponentModel.DataAnnotations;
using Landmark.Onnx;
using Microsoft.Extensions.Options;

namespace Landmark.Training;

/// <summary>How training images are varied: <c>Strong</c> (random resized crop of 45–100% of the area, flip, colour
/// jitter, cut-out: for training from scratch) or <c>Light</c> (crop of 70–100%, flip: for fine-tuning a pretrained
/// network, whose features strong jitter pushes away from what they were trained on).</summary>
public enum AugmentationKind
{
    Strong,
    Light,
}

/// <summary>What turns the pooled backbone features into the embedding: <c>Linear</c> (a linear layer to
/// <see cref="TrainingOptions.EmbeddingDimension"/> and batch norm, trained from random weights) or <c>None</c> (the
/// GeM-pooled features are the embedding: a pretrained backbone starts exactly where the pretrained model is, and
/// fine-tuning moves it from there instead of from a random projection).</summary>
public enum NeckKind
{
    Linear,
    None,
}

public enum OptimizerKind
{
    AdamW,
    Sgd,
}

/// <summary>Every training setting in one place (bound from <c>Landmark:Training</c>, overridable from the CLI and gRPC).</summary>
public sealed class TrainingOptions
{
    public const string SectionName = "Landmark:Training";

    /// <summary>Default: fine-tune the ImageNet ResNet-18 (all but its last stage frozen, batch-norm statistics kept).</summary>
    [ValidateObjectMembers]
    public BackboneOptions Backbone { get; set; } = new() { Pretrained = PretrainedBackbone.ImageNetResNet18 };

    /// <summary>Embedding size with the <c>Linear</c> neck; with no neck the embedding has the backbone's channels.</summary>
    [Range(8, 4096)]
    public int EmbeddingDimension { get; set; } = 512;

    public NeckKind Neck { get; set; } = NeckKind.Linear;

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
    public int ImageSize { get; set; } = 224;

    [Range(1, 1024)]
    public int BatchSize { get; set; } = 32;

    [Range(1, 10_000)]
    public int Epochs { get; set; } = 3;

    [Range(0, 100)]
    public int WarmupEpochs { get; set; } = 1;

    public OptimizerKind Optimizer { get; set; } = OptimizerKind.AdamW;

    [Range(1e-6, 10.0)]
    public double LearningRate { get; set; } = 1e-3;

    [Range(0.0, 1.0)]
    public double WeightDecay { get; set; } = 1e-4;

    public AugmentationKind Augmentation { get; set; } = AugmentationKind.Light;

    /// <summary>Sample classes uniformly (long-tail friendly) instead of images uniformly.</summary>
    public bool ClassBalanced { get; set; } = true;

    public int Seed { get; set; } = 42;

    /// <summary>Progressive resizing: smaller image sizes trained before <see cref="ImageSize"/>, each for an equal share
    /// of the epochs (e.g. [96] with 8 epochs: 4 epochs at 96 px, then 4 at <see cref="ImageSize"/>).</summary>
    public int[] ImageSizeStages { get; set; } = [];

    /// <summary>A checkpoint (weights, optimizer state, step) is written every this many steps, and at each epoch end.</summary>
    [Range(1, 1_000_000)]
    public int CheckpointIntervalSteps { get; set; } = 25;

    /// <summary>Class curation: classes with fewer gallery images are left out.</summary>
    [Range(2, 100_000)]
    public int MinImagesPerClass { get; set; } = 4;

    /// <summary>Class curation: keep only the N classes with the most images (0 = all).</summary>
    [Range(0, 10_000_000)]
    public int MaxClasses { get; set; }

    /// <summary>Share of each class held out (stratified) to measure validation GAP after each epoch (0 = none).</summary>
    [Range(0.0, 0.5)]
    public double ValidationFraction { get; set; } = 0.15;

    /// <summary>Images whose perceptual hashes are at most this many bits apart (of 64) are near-duplicates and land on
    /// the same side of the validation split. Within-landmark pairs of different photos start at about 14 bits.</summary>
    [Range(0, 32)]
    public int NearDuplicateDistance { get; set; } = 12;

    /// <summary>Threads that decode and augment batches in the background, ahead of the training step.</summary>
    [Range(1, 64)]
    public int LoaderThreads { get; set; } = 2;

    /// <summary>Batches prepared ahead of the training step.</summary>
    [Range(1, 64)]
    public int PrefetchBatches { get; set; } = 3;

    /// <summary><c>auto</c> (CUDA when present), <c>cpu</c> or <c>cuda</c>.</summary>
    [RegularExpression("^(auto|cpu|cuda(:[0-9]+)?)$")]
    public string Device { get; set; } = "auto";

    /// <summary>After training, calibrate the scorer's settings for the new model (and, for the publish gate, the live
    /// one) on the job's held-out set; the model's manifest carries them. Off by default: on <c>landmarks-mini</c> the
    /// calibrated settings (one voting neighbour) won 1–3 held-out queries and then lost on <c>val</c> (GAP 0.9842 and
    /// 0.9704 against 1.0000 for the same models with the configured settings).</summary>
    public bool CalibrateScorer { get; set; }

    /// <summary>Training threads on CPU (0 = one per core).</summary>
    [Range(0, 256)]
    public int Threads { get; set; }

    /// <summary>Pretrained backbones: their learning rate as a share of <see cref="LearningRate"/> (the neck and head
    /// train at the full rate): pretrained weights want small steps. Backbones trained from scratch use the full rate.</summary>
    [Range(0.0, 10.0)]
    public double BackboneLearningRateFactor { get; set; } = 0.1;

    /// <summary>Pretrained backbones: epochs at the start during which only the neck and head train (the backbone's rate
    /// is 0), so the random head does not push large gradients into the pretrained weights.</summary>
    [Range(0, 100)]
    public int HeadWarmupEpochs { get; set; } = 1;

    /// <summary>Gradients are rescaled to at most this global L2 norm before each step (0 = no clipping).</summary>
    [Range(0.0, 1e6)]
    public double GradientClipNorm { get; set; } = 10;

    /// <summary>Steps in a row with a non-finite loss or gradient after which training goes back to the last good
    /// checkpoint (each such step is skipped and halves the learning rate).</summary>
    [Range(1, 1000)]
    public int NonFiniteStepsBeforeRestore { get; set; } = 3;

    /// <summary>Non-finite steps in a run after which the job fails (<c>diverged at step S: loss NaN</c>).</summary>
    [Range(1, 100_000)]
    public int MaxNonFiniteSteps { get; set; } = 20;

    /// <summary>Validation GAP is measured after every this many epochs, and after the last.</summary>
    [Range(1, 10_000)]
    public int ValidationIntervalEpochs { get; set; } = 1;

    /// <summary>Image size of <paramref name="epoch"/> (0-based) under progressive resizing.</summary>
    public int ImageSizeAt(int epoch)
    {
        if (ImageSizeStages.Length == 0)
        {
            return ImageSize;
        }
        var stage = (int)((long)epoch * (ImageSizeStages.Length + 1) / Math.Max(1, Epochs));
        return stage < ImageSizeStages.Length ? ImageSizeStages[stage] : ImageSize;
    }

    /// <summary>Largest image size any stage trains at.</summary>
    public int MaxImageSize => ImageSizeStages.Length == 0 ? ImageSize : Math.Max(ImageSize, ImageSizeStages.Max());
}

/// <summary>The data annotations of <see cref="TrainingOptions"/> and its nested sections (generated).</summary>
[OptionsValidator]
public sealed partial class TrainingOptionsAnnotations : IValidateOptions<TrainingOptions>;

/// <summary>
/// Every rule of <see cref="TrainingOptions"/> in one place: the data annotations of the options and of their nested
/// sections, and the rules between settings. Used at start-up (options validation), for the options of a gRPC
/// <c>StartTraining</c> call, and by the one-shot <c>trainer train</c> — so a bad setting fails before a job starts,
/// whichever way it came in.
/// </summary>
public sealed class TrainingOptionsValidator : IValidateOptions<TrainingOptions>
{
    private static readonly TrainingOptionsAnnotations Annotations = new();

    public ValidateOptionsResult Validate(string? name, TrainingOptions options)
    {
        var failures = new List<string>();
        var annotations = Annotations.Validate(name, options);
        if (annotations.Failed)
        {
            failures.AddRange(annotations.Failures);
        }
        var backbone = options.Backbone;
        if (backbone is not null)
        {
            if (backbone.Widths.Length != backbone.Depths.Length)
            {
                failures.Add($"Backbone:Widths ({backbone.Widths.Length}) and Backbone:Depths ({backbone.Depths.Length}) need the same length");
            }
            if (backbone.Widths.Any(w => w < 1) || backbone.Depths.Any(d => d < 1))
            {
                failures.Add("Backbone:Widths and Backbone:Depths must be positive");
            }
        }
        if (options.WarmupEpochs >= options.Epochs && options.Epochs > 1)
        {
            failures.Add($"WarmupEpochs ({options.WarmupEpochs}) must be smaller than Epochs ({options.Epochs})");
        }
        if (options.HeadWarmupEpochs >= options.Epochs && options.Epochs > 1)
        {
            failures.Add($"HeadWarmupEpochs ({options.HeadWarmupEpochs}) must be smaller than Epochs ({options.Epochs})");
        }
        if (options.MarginLow > options.MarginHigh)
        {
            failures.Add($"MarginLow ({options.MarginLow}) must not exceed MarginHigh ({options.MarginHigh})");
        }
        if (options.ImageSizeStages.Any(s => s is < 16 or > 1024))
        {
            failures.Add("ImageSizeStages must be between 16 and 1024 pixels");
        }
        if (options.NonFiniteStepsBeforeRestore > options.MaxNonFiniteSteps)
        {
            failures.Add($"NonFiniteStepsBeforeRestore ({options.NonFiniteStepsBeforeRestore}) must not exceed MaxNonFiniteSteps ({options.MaxNonFiniteSteps})");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
