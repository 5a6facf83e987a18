using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Recognition;
using Landmark.Training;

namespace Landmark.Trainer;

/// <summary>A model's figures on a job's held-out set.</summary>
public sealed record HeldOutResult(string Version, double Gap, double Accuracy, int Queries, ScorerCalibrator.Result? Calibration);

/// <summary>
/// A training job's held-out set, scored through ONNX Runtime exactly as the platform would serve a model: the job's
/// validation images are the landmark queries, a seeded third of the non-landmark gallery the non-landmark queries; the
/// training images form the labelled gallery and the other non-landmarks the distractors. The trained model and the live
/// model are measured on the same set (the publish gate), and the trained model's scorer settings are calibrated on it.
/// Images are decoded at each model's own input size, in chunks, so memory stays bounded.
/// </summary>
public sealed class HeldOutEvaluation(TrainingData data, ILogger<HeldOutEvaluation> logger)
{
    private const int Chunk = 32;

    /// <summary>Whether the job has what the held-out set needs (validation images and some non-landmarks).</summary>
    public static bool IsPossible(TrainingJobRecord job) => job.Validation.Count > 0 && job.NonLandmarks.Count >= 3;

    public async Task<HeldOutResult> EvaluateAsync(TrainingJobRecord job, byte[] onnx, ModelManifest manifest, ScorerOptions scorer, bool calibrate,
        int threads, CancellationToken cancellationToken)
    {
        using var model = new OnnxEmbeddingModel(onnx, manifest, new EmbedderOptions { IntraOpThreads = 0 });
        var ids = job.NonLandmarks.Order(StringComparer.Ordinal).ToArray();
        new Random(job.Options.Seed).Shuffle(ids);
        var queryCount = Math.Max(1, ids.Length / 3);
        var landmarkQueries = await EmbedAsync(model, job.Validation, threads, cancellationToken);
        var negatives = await EmbedAsync(model, ids.Take(queryCount).Select(id => new TrainingImage(id, -1)).ToList(), threads, cancellationToken);
        var distractors = await EmbedAsync(model, ids.Skip(queryCount).Select(id => new TrainingImage(id, -1)).ToList(), threads, cancellationToken);
        var gallery = await EmbedAsync(model, job.Train, threads, cancellationToken);
        var queries = landmarkQueries.Select(q => (q.Vector, (string?)job.Classes[q.Label]))
            .Concat(negatives.Select(n => (n.Vector, (string?)null))).ToList();
        var labelled = gallery.Select(g => (g.Vector, job.Classes[g.Label])).ToList();
        var vectors = distractors.Select(d => d.Vector).ToList();
        var options = scorer.WithModelSettings(manifest.ScorerSettings);
        var result = ScorerCalibrator.Evaluate(queries, labelled, vectors, options);
        var calibration = calibrate ? ScorerCalibrator.Calibrate(queries, labelled, vectors, scorer) : null;
        logger.LogInformation("Job {JobId}: model {Version} on the held-out set ({Queries} queries): GAP {Gap:F4}, accuracy {Accuracy:F4}",
            job.JobId, manifest.Version, queries.Count, result.Gap, result.Accuracy);
        return new HeldOutResult(manifest.Version, result.Gap, result.Accuracy, queries.Count, calibration);
    }

    private async Task<List<(float[] Vector, int Label)>> EmbedAsync(OnnxEmbeddingModel model, IReadOnlyList<TrainingImage> images, int threads,
        CancellationToken cancellationToken)
    {
        var result = new List<(float[], int)>(images.Count);
        foreach (var chunk in images.Chunk(Chunk))
        {
            var samples = await data.LoadAsync(chunk, model.InputSize, threads, cancellationToken);
            if (samples.Count == 0)
            {
                continue;
            }
            var plane = 3 * model.InputSize * model.InputSize;
            var pixels = new float[samples.Count * plane];
            for (var i = 0; i < samples.Count; i++)
            {
                samples[i].Pixels.CopyTo(pixels.AsSpan(i * plane));
            }
            var vectors = model.Embed(pixels, samples.Count);
            for (var i = 0; i < samples.Count; i++)
            {
                result.Add((vectors[i], samples[i].Label));
            }
        }
        return result;
    }
}
