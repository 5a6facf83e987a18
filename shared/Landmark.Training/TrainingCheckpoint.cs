namespace Landmark.Training;

/// <summary>A serialised training state at <paramref name="Step"/> (steps done so far).</summary>
public sealed record TrainingCheckpoint(long Step, int Epoch, byte[] State);
