using System.Numerics.Tensors;
using Landmark.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Landmark.Embedding;

/// <summary>
/// An embedding model on ONNX Runtime: input [N,3,S,S] float RGB, output [N,D]. Works for the platform's own models
/// and for any user-supplied ONNX image model of that shape. Embeddings are returned L2-normalised.
/// Thread-safe (ONNX Runtime sessions allow concurrent Run calls).
/// </summary>
public sealed class OnnxEmbeddingModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _flip;

    public OnnxEmbeddingModel(byte[] onnx, ModelManifest manifest, EmbedderOptions options)
    {
        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = options.IntraOpThreads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (options.UseCuda)
        {
            sessionOptions.AppendExecutionProvider_CUDA();
        }
        try
        {
            _session = new InferenceSession(onnx, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"Model {manifest.Version} is not a loadable ONNX model: {ex.Message}", ex);
        }
        Manifest = Validate(_session, manifest);
        _flip = options.FlipTestTimeAugmentation;
    }

    public ModelManifest Manifest { get; }

    public int InputSize => Manifest.InputSize;

    public int Dimension => Manifest.Dimension;

    /// <summary>Embeds <paramref name="count"/> CHW images laid out one after another in <paramref name="batch"/>
    /// (RGB in [0, 1]; the manifest's mean/std normalisation is applied here).</summary>
    public float[][] Embed(ReadOnlySpan<float> batch, int count)
    {
        var plane = InputSize * InputSize;
        var expected = count * 3 * plane;
        if (batch.Length < expected)
        {
            throw new ArgumentException($"batch holds {batch.Length} floats; {count} images need {expected}");
        }
        var input = batch[..expected].ToArray();
        if (Manifest.Mean.Length == 3 && Manifest.Std.Length == 3)
        {
            for (var n = 0; n < count; n++)
            {
                for (var c = 0; c < 3; c++)
                {
                    var span = input.AsSpan(((n * 3) + c) * plane, plane);
                    TensorPrimitives.Subtract(span, Manifest.Mean[c], span);
                    TensorPrimitives.Divide(span, Manifest.Std[c], span);
                }
            }
        }
        var output = Run(input, count);
        if (_flip)
        {
            // Test-time augmentation: the mirrored images too, embeddings summed (then normalised below).
            FlipHorizontally(input, count, InputSize);
            var mirrored = Run(input, count);
            TensorPrimitives.Add(output, mirrored, output);
        }
        var embeddings = new float[count][];
        for (var n = 0; n < count; n++)
        {
            var e = output.AsSpan(n * Dimension, Dimension).ToArray();
            // Run normalised each view already; only the sum of two views needs it again.
            var norm = _flip ? TensorPrimitives.Norm(e) : 0;
            if (norm > 0)
            {
                TensorPrimitives.Divide(e, norm, e);
            }
            embeddings[n] = e;
        }
        return embeddings;
    }

    private float[] Run(float[] input, int count)
    {
        var tensor = new DenseTensor<float>(input, [count, 3, InputSize, InputSize]);
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(Manifest.InputName, tensor)], [Manifest.OutputName]);
        var output = results[0].AsEnumerable<float>().ToArray();
        if (output.Length != count * Dimension)
        {
            throw new InvalidDataException($"Model {Manifest.Version} returned {output.Length} values for {count} images; expected {count}×{Dimension}.");
        }
        for (var n = 0; n < count; n++)
        {
            // L2 per image before any sum, so each view weighs the same.
            var e = output.AsSpan(n * Dimension, Dimension);
            var norm = TensorPrimitives.Norm(e);
            if (norm > 0)
            {
                TensorPrimitives.Divide(e, norm, e);
            }
        }
        return output;
    }

    private static void FlipHorizontally(float[] images, int count, int size)
    {
        for (var row = 0; row < count * 3 * size; row++)
        {
            images.AsSpan(row * size, size).Reverse();
        }
    }

    /// <summary>Checks that the session has one float image input [N,3,S,S] and a float output [N,D]; fills names and
    /// sizes the manifest leaves open, and fails clearly when they disagree.</summary>
    private static ModelManifest Validate(InferenceSession session, ModelManifest manifest)
    {
        var inputEntry = session.InputMetadata.Count == 1
            ? session.InputMetadata.First()
            : session.InputMetadata.FirstOrDefault(kv => kv.Key == manifest.InputName);
        if (inputEntry.Key is null)
        {
            throw new InvalidDataException($"Model {manifest.Version} has {session.InputMetadata.Count} inputs and none is named '{manifest.InputName}'.");
        }
        var (inputName, input) = (inputEntry.Key, inputEntry.Value);
        var dims = input.Dimensions;
        if (input.ElementType != typeof(float) || dims.Length != 4 || dims[1] != 3)
        {
            throw new InvalidDataException($"Model {manifest.Version}: input '{inputName}' must be float [N,3,H,W]; it is {input.ElementType.Name} [{string.Join(",", dims)}].");
        }
        if (dims[2] > 0 && dims[3] > 0 && (dims[2] != dims[3] || (manifest.InputSize > 0 && dims[2] != manifest.InputSize)))
        {
            throw new InvalidDataException($"Model {manifest.Version}: input is {dims[2]}×{dims[3]}; the manifest says {manifest.InputSize}×{manifest.InputSize}.");
        }
        var outputEntry = session.OutputMetadata.FirstOrDefault(kv => kv.Key == manifest.OutputName);
        if (outputEntry.Key is null)
        {
            outputEntry = session.OutputMetadata.First();
        }
        var (outputName, output) = (outputEntry.Key, outputEntry.Value);
        var outDims = output.Dimensions;
        if (output.ElementType != typeof(float) || outDims.Length != 2)
        {
            throw new InvalidDataException($"Model {manifest.Version}: output '{outputName}' must be float [N,D]; it is {output.ElementType.Name} [{string.Join(",", outDims)}].");
        }
        if (outDims[1] > 0 && manifest.Dimension > 0 && outDims[1] != manifest.Dimension)
        {
            throw new InvalidDataException($"Model {manifest.Version}: output has {outDims[1]} dimensions; the manifest says {manifest.Dimension}.");
        }
        return manifest with
        {
            InputName = inputName,
            OutputName = outputName,
            InputSize = manifest.InputSize > 0 ? manifest.InputSize : dims[2],
            Dimension = manifest.Dimension > 0 ? manifest.Dimension : outDims[1],
        };
    }

    public void Dispose() => _session.Dispose();
}
