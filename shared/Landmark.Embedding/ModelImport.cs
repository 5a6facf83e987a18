using System.Globalization;
using Landmark.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Landmark.Embedding;

/// <summary>A user's model after the import checks: the graph to register with its manifest, and what was found.</summary>
public sealed record ImportedModel(ModelArtifact Artifact, IReadOnlyList<string> Checks);

/// <summary>
/// Model import: the graph checks and rewrites of <see cref="OnnxModelImporter"/>, then ONNX Runtime. The uploaded
/// graph must load and give a finite, non-zero <c>[1,D]</c> or <c>[1,D,1,1]</c> output for each of
/// <see cref="ProbeImages"/> random images run one at a time; the graph to register must run those images as one batch
/// and give the same embeddings (so a batch fixed at 1 that was made variable really is variable); finally the
/// embedder's own loader (<see cref="OnnxEmbeddingModel"/>) must accept it and embed the batch. A graph that hard-codes
/// its batch of 1 in a Reshape gets that Reshape made to copy the batch, and is refused when that does not give the
/// same embeddings. Every refusal is a <see cref="ModelImportException"/> saying what is wrong.
/// </summary>
public static class ModelImport
{
    /// <summary>Random images in the probe batch.</summary>
    public const int ProbeImages = 2;

    private const int Seed = 20240607;

    public static ImportedModel Check(byte[] onnx, ModelImportSettings settings, int threads = 1, CancellationToken cancellationToken = default)
    {
        var candidate = OnnxModelImporter.Inspect(onnx, settings);
        var size = candidate.InputSize;
        var (raw, normalised) = Probe(candidate, size);
        var plane = 3 * size * size;

        // The uploaded graph, one image at a time (a batch of 1 suits fixed and variable batches alike).
        var references = new float[ProbeImages][];
        long[] observed = [];
        using (var session = Load(candidate.OriginalBytes, threads, out var loadError))
        {
            if (session is null)
            {
                throw new ModelImportException($"ONNX Runtime cannot load the model: {loadError}");
            }
            for (var i = 0; i < ProbeImages; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var run = Run(session, candidate.InputName, normalised.AsSpan(i * plane, plane).ToArray(), 1, size);
                (references[i], observed) = run.Output is not null ? (run.Output, run.Dims)
                    : throw new ModelImportException($"running one {size}×{size} image failed in ONNX Runtime: {run.Error}");
                var outputName = session.OutputMetadata.Keys.First();
                OnnxModelImporter.CheckOutputShape(outputName, observed.Select(d => (long?)d).ToArray(), OnnxModelImporter.Describe(observed), requireBatchOf: 1);
                if (NonFinite(references[i]) is { } bad)
                {
                    throw new ModelImportException($"output '{outputName}' is not finite on a probe image ({bad}): the model computes NaN or infinity for random {size}×{size} images in [0, 1]{NormalisationNote(candidate)}.");
                }
            }
            if (references.All(r => r.All(v => v == 0)))
            {
                throw new ModelImportException($"output '{session.OutputMetadata.Keys.First()}' is all zeros for every probe image: such embeddings carry no information.");
            }
        }
        var dimension = observed[1];
        candidate.AddCheck($"ONNX Runtime {OrtEnv.Instance().GetVersionString()} loads it; {ProbeImages} random {size}×{size} images one at a time: output {OnnxModelImporter.Describe(observed)} each, finite");
        if (observed.Length == 4)
        {
            candidate.AppendFlatten(dimension);
        }

        // The graph to register, all probe images in one batch.
        var relaxed = (IReadOnlyList<string>)[];
        byte[] bytes;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bytes = candidate.ToBytes();
            var failure = RunBatch(bytes, candidate, normalised, size, dimension, references, threads, out var maxDifference);
            if (failure is null)
            {
                candidate.AddCheck($"a batch of {ProbeImages}: output [{ProbeImages},{dimension}], finite, the same embeddings as one image at a time (largest difference {maxDifference.ToString("G2", CultureInfo.InvariantCulture)})");
                if (relaxed.Count > 0)
                {
                    candidate.AddCheck($"Reshape with a batch of 1 built in made to copy the batch: {string.Join("; ", relaxed)}");
                }
                break;
            }
            if (candidate.BatchWasFixed && relaxed.Count == 0 && candidate.RelaxFixedBatchReshapes() is { Count: > 0 } changed)
            {
                relaxed = changed;
                continue;
            }
            throw new ModelImportException(candidate.BatchWasFixed
                ? $"the model was exported with a batch of 1 and still cannot take a batch of {ProbeImages} once its input batch is made variable" +
                  (relaxed.Count > 0 ? $" (even with its Reshape nodes made to copy the batch: {string.Join("; ", relaxed)})" : "") +
                  $": {failure}. Export it with a dynamic batch axis (e.g. torch.onnx.export(..., dynamic_axes={{'{candidate.InputName}': {{0: 'N'}}}}))."
                : $"the model cannot take a batch of {ProbeImages}: {failure}.");
        }

        // The embedder's own loader, with the manifest as registered.
        var manifest = candidate.Manifest(bytes, settings.Name, dimension, settings.Description);
        ModelManifest served;
        try
        {
            using var model = new OnnxEmbeddingModel(bytes, manifest, new EmbedderOptions { IntraOpThreads = threads });
            var embeddings = model.Embed(raw, ProbeImages);
            if (embeddings.Any(e => e.Length != dimension || NonFinite(e) is not null))
            {
                throw new ModelImportException($"the embedder's loader gives {embeddings[0].Length}-d embeddings with non-finite values for the probe images.");
            }
            served = model.Manifest;
        }
        catch (InvalidDataException ex)
        {
            throw new ModelImportException($"the embedder cannot serve the model: {ex.Message}", ex);
        }
        candidate.AddCheck($"the embedder loads it: {served.InputName} [N,3,{size},{size}] → {served.OutputName} [N,{dimension}]" +
            (served.Mean.Length == 3 ? $", pixels normalised with mean {string.Join(",", served.Mean.Select(F))} and std {string.Join(",", served.Std.Select(F))}" : ", pixels fed as RGB in [0, 1]"));
        return new ImportedModel(new ModelArtifact(bytes, served), candidate.Checks);
    }

    private static string? RunBatch(byte[] bytes, ImportCandidate candidate, float[] normalised, int size, long dimension, float[][] references, int threads, out double maxDifference)
    {
        maxDifference = 0;
        using var session = Load(bytes, threads, out var loadError);
        if (session is null)
        {
            return $"ONNX Runtime cannot load the rewritten graph: {loadError}";
        }
        var (output, dims, error) = Run(session, candidate.InputName, normalised, ProbeImages, size);
        if (output is null)
        {
            return $"running a batch of {ProbeImages} failed in ONNX Runtime: {error}";
        }
        if (dims.Length != 2 || dims[0] != ProbeImages || dims[1] != dimension)
        {
            return $"for a batch of {ProbeImages} the output is {OnnxModelImporter.Describe(dims)}, not [{ProbeImages},{dimension}]";
        }
        if (NonFinite(output) is { } bad)
        {
            return $"for a batch of {ProbeImages} the output is not finite ({bad})";
        }
        for (var i = 0; i < ProbeImages; i++)
        {
            var reference = references[i];
            var scale = reference.Max(MathF.Abs);
            for (var j = 0; j < dimension; j++)
            {
                var difference = Math.Abs(output[(i * dimension) + j] - reference[j]);
                maxDifference = Math.Max(maxDifference, difference);
                if (difference > 1e-4 + (1e-3 * scale))
                {
                    return $"a batch of {ProbeImages} gives other embeddings than the same images one at a time (image {i}, value {j}: " +
                        $"{F(output[(i * dimension) + j])} instead of {F(reference[j])}), so the graph mixes the images of a batch or is not deterministic";
                }
            }
        }
        return null;
    }

    /// <summary>Random RGB images in [0, 1] (what the embedder feeds) and the same normalised with the manifest's mean and
    /// std (what the graph sees).</summary>
    private static (float[] Raw, float[] Normalised) Probe(ImportCandidate candidate, int size)
    {
        var random = new Random(Seed);
        var plane = size * size;
        var raw = new float[ProbeImages * 3 * plane];
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = random.NextSingle();
        }
        var normalised = raw.ToArray();
        if (candidate.Mean.Length == 3)
        {
            for (var i = 0; i < normalised.Length; i++)
            {
                var c = i / plane % 3;
                normalised[i] = (normalised[i] - candidate.Mean[c]) / candidate.Std[c];
            }
        }
        return (raw, normalised);
    }

    private static InferenceSession? Load(byte[] bytes, int threads, out string error)
    {
        error = "";
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        try
        {
            return new InferenceSession(bytes, options);
        }
        catch (OnnxRuntimeException ex)
        {
            error = ex.Message;
            return null;
        }
    }

    /// <summary>Runs images through the session's single output; no output but an error when ONNX Runtime fails.</summary>
    private static (float[]? Output, long[] Dims, string? Error) Run(InferenceSession session, string inputName, float[] images, int count, int size)
    {
        var (outputName, metadata) = session.OutputMetadata.First();
        if (metadata.ElementType != typeof(float))
        {
            throw new ModelImportException($"output '{outputName}' is {metadata.ElementType.Name} in ONNX Runtime: expected float [N,D] or [N,D,1,1].");
        }
        try
        {
            var tensor = new DenseTensor<float>(images, [count, 3, size, size]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, tensor)], [outputName]);
            var output = results[0].AsTensor<float>();
            var dims = new long[output.Dimensions.Length];
            for (var i = 0; i < dims.Length; i++)
            {
                dims[i] = output.Dimensions[i];
            }
            return (output.ToArray(), dims, null);
        }
        catch (OnnxRuntimeException ex)
        {
            return (null, [], ex.Message);
        }
    }

    private static string? NonFinite(float[] values)
    {
        var nan = values.Count(float.IsNaN);
        var infinite = values.Count(float.IsInfinity);
        return nan + infinite == 0 ? null : $"{nan} NaN and {infinite} infinite of {values.Length} values";
    }

    private static string NormalisationNote(ImportCandidate candidate) =>
        candidate.Mean.Length == 3 ? $" normalised with mean {string.Join(",", candidate.Mean.Select(F))} and std {string.Join(",", candidate.Std.Select(F))}" : "";

    private static string F(float v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
