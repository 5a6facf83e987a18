using Landmark.Onnx;
using Microsoft.Extensions.Logging;

namespace Landmark.Embedding;

/// <summary>The models a fresh platform can start with (<see cref="EmbedderOptions.DefaultModel"/>).</summary>
public static class DefaultModels
{
    public const string ImageNetResNet18 = PretrainedBackbone.ImageNetResNet18;
    public const string Baseline = "baseline";

    /// <summary>The configured default model; the baseline (with a warning) when the pretrained graphs are missing.</summary>
    public static ModelArtifact Build(EmbedderOptions options, ILogger logger)
    {
        if (options.DefaultModel == ImageNetResNet18)
        {
            if (PretrainedBackbone.IsAvailable())
            {
                return PretrainedModel.Build(PretrainedBackbone.LoadImageNetResNet18(), options.DefaultModelInputSize, options.DefaultModelPooling);
            }
            logger.LogWarning("The pretrained ImageNet ResNet-18 is not in {Directory}; starting with the training-free baseline instead",
                PretrainedBackbone.DefaultDirectory());
        }
        return BaselineModel.Build();
    }
}
