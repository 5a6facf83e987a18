namespace Landmark.Training;

/// <summary>One labelled training image as a CHW float tensor in [0,1] (square, any size ≥ <see cref="TrainingOptions.ImageSize"/>).</summary>
public sealed record TrainingSample(float[] Pixels, int Size, int Label);
