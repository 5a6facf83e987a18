namespace Landmark.Training;

/// <summary>Progress after each epoch. Validation figures are null when no validation ran.</summary>
public sealed record EpochReport(int Epoch, double Loss, double Accuracy, double ImagesPerSecond, double LearningRate)
{
    public int ImageSize { get; init; }
    public double? ValidationGap { get; init; }
    public double? ValidationAccuracy { get; init; }
}
