namespace Landmark.Recognition;

/// <summary>The valid range of each scorer setting: the one place both the configured settings
/// (<see cref="ScorerOptions"/>' annotations) and a model's calibrated ones (<see cref="ModelScorerSettings"/>) take it from.</summary>
public static class ScorerRanges
{
    public static class VotingNeighbours
    {
        public const int Min = 1;
        public const int Max = 1000;
    }

    public static class Power
    {
        public const double Min = 0;
        public const double Max = 64;
    }

    public static class NonLandmarkTopM
    {
        public const int Min = 0;
        public const int Max = 1000;
    }

    public static class NonLandmarkWeight
    {
        public const double Min = 0;
        public const double Max = 10;
    }

    public static class Gain
    {
        public const double Min = 0.1;
        public const double Max = 1000;
    }

    public static class MinConfidence
    {
        public const double Min = 0;
        public const double Max = 1;
    }

    public static class CandidateCount
    {
        public const int Min = 1;
        public const int Max = 100;
    }
}
