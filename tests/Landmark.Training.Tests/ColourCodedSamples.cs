using Landmark.Training;

namespace Landmark.Training.Tests;

/// <summary>Synthetic training images whose class is written into one colour channel (learnable in a few steps).</summary>
internal static class ColourCodedSamples
{
    /// <param name="poisoned">Images (by index) whose pixels are all NaN.</param>
    public static List<TrainingSample> Create(int count, int classes, int size, int seed, Func<int, bool>? poisoned = null)
    {
        var random = new Random(seed);
        var samples = new List<TrainingSample>();
        for (var n = 0; n < count; n++)
        {
            var label = n % classes;
            var pixels = new float[3 * size * size];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (float)random.NextDouble() * 0.3f;
            }
            for (var i = 0; i < size * size; i++)
            {
                pixels[(label * size * size) + i] += 0.6f;
            }
            if (poisoned?.Invoke(n) == true)
            {
                Array.Fill(pixels, float.NaN);
            }
            samples.Add(new TrainingSample(pixels, size, label));
        }
        return samples;
    }
}
