namespace Landmark.Training;

/// <summary>Validation of the network after an epoch.</summary>
public sealed record ValidationReport(double Gap, double Accuracy);
