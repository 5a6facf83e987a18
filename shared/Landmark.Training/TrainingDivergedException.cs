namespace Landmark.Training;

/// <summary>Training produced non-finite losses or gradients too often to go on.</summary>
public sealed class TrainingDivergedException(long step, string cause, int nonFiniteSteps)
    : Exception($"diverged at step {step}: {cause} ({nonFiniteSteps} non-finite steps; the learning rate was halved at each and the last good checkpoint restored)")
{
    public long Step { get; } = step;

    public string Cause { get; } = cause;
}
