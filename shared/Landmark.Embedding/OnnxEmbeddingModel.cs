using System.Collections.Concurrent;
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
    private readonly EmbedderOptions _options;
    private readonly ConcurrentBag<InferenceSession> _idleBulkSessions = [];
    private readonly List<InferenceSession> _bulkSessions = [];
    private readonly Lock _bulkLock = new();
    private int _bulkReserved;

    /// <summary>The graph, kept until every bulk instance exists (null with CUDA, where bulk work shares the session).</summary>
    private byte[]? _onnx;
    private int _users;
    private int _retired;
    private int _disposed;

    public OnnxEmbeddingModel(byte[] onnx, ModelManifest manifest, EmbedderOptions options)
    {
        _options = options;
        try
        {
            _session = CreateSession(onnx, options.IntraOpThreads, options.UseCuda);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"Model {manifest.Version} is not a loadable ONNX model: {ex.Message}", ex);
        }
        Manifest = Validate(_session, manifest);
        _flip = options.FlipTestTimeAugmentation;
        _onnx = options.UseCuda ? null : onnx;
    }

    private static InferenceSession CreateSession(byte[] onnx, int intraOpThreads, bool useCuda)
    {
        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = intraOpThreads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (useCuda)
        {
            sessionOptions.AppendExecutionProvider_CUDA();
        }
        return new InferenceSession(onnx, sessionOptions);
    }

    /// <summary>Bulk instances created so far (they are made at the first bulk runs, up to
    /// <see cref="EmbedderOptions.EffectiveBulkStreams"/>).</summary>
    public int BulkInstances
    {
        get
        {
            lock (_bulkLock)
            {
                return _bulkSessions.Count;
            }
        }
    }

    public ModelManifest Manifest { get; }

    public int InputSize => Manifest.InputSize;

    public int Dimension => Manifest.Dimension;

    /// <summary>Embeds <paramref name="count"/> CHW images laid out one after another in <paramref name="batch"/>
    /// (RGB in [0, 1]; the manifest's mean/std normalisation is applied here).</summary>
    public float[][] Embed(ReadOnlySpan<float> batch, int count)
    {
        var expected = count * 3 * InputSize * InputSize;
        if (batch.Length < expected)
        {
            throw new ArgumentException($"batch holds {batch.Length} floats; {count} images need {expected}");
        }
        return EmbedInPlace(_session, batch[..expected].ToArray(), count);
    }

    /// <summary>As <see cref="Embed"/>, on one of the bulk instances (<see cref="EmbedderOptions.BulkStreams"/>), created
    /// here when fewer exist; on the main session when every bulk instance is busy or with CUDA. <paramref name="batch"/>
    /// is normalised in place: the caller gives it up.</summary>
    public float[][] EmbedBulk(float[] batch, int count)
    {
        var session = RentBulkSession();
        try
        {
            return EmbedInPlace(session ?? _session, batch, count);
        }
        finally
        {
            if (session is not null)
            {
                _idleBulkSessions.Add(session);
            }
        }
    }

    /// <summary>As <see cref="Embed"/> on the main session; <paramref name="batch"/> is normalised in place.</summary>
    public float[][] EmbedOwned(float[] batch, int count)
    {
        return EmbedInPlace(_session, batch, count);
    }

    private InferenceSession? RentBulkSession()
    {
        if (_idleBulkSessions.TryTake(out var idle))
        {
            return idle;
        }
        byte[]? onnx;
        lock (_bulkLock)
        {
            onnx = _onnx;
            if (onnx is null || _bulkReserved >= _options.EffectiveBulkStreams)
            {
                return null;
            }
            _bulkReserved++; // before it exists, so that concurrent callers make no more than the configured number
        }
        InferenceSession? session = null;
        try
        {
            session = CreateSession(onnx, _options.EffectiveBulkStreamThreads, useCuda: false);
        }
        finally
        {
            lock (_bulkLock)
            {
                if (session is null)
                {
                    _bulkReserved--;
                }
                else
                {
                    _bulkSessions.Add(session);
                }
                if (_bulkSessions.Count >= _options.EffectiveBulkStreams)
                {
                    _onnx = null; // every instance exists: the graph's bytes are no longer needed
                }
            }
        }
        return session;
    }

    private float[][] EmbedInPlace(InferenceSession session, float[] input, int count)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        var plane = InputSize * InputSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(input.Length, count * 3 * plane, "batch");
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
        var output = Run(session, input, count);
        if (_flip)
        {
            // Test-time augmentation: the mirrored images too, embeddings summed (then normalised below).
            FlipHorizontally(input, count, InputSize);
            var mirrored = Run(session, input, count);
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

    private float[] Run(InferenceSession session, float[] input, int count)
    {
        var tensor = new DenseTensor<float>(input.AsMemory(0, count * 3 * InputSize * InputSize), [count, 3, InputSize, InputSize]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(Manifest.InputName, tensor)], [Manifest.OutputName]);
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

    /// <summary>Takes a reference for a model run; false once the model is retired (take the current model instead).
    /// Every true is paired with <see cref="Release"/>.</summary>
    public bool TryAcquire()
    {
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _retired) == 0)
        {
            return true;
        }
        Release();
        return false;
    }

    /// <summary>Ends a run begun with <see cref="TryAcquire"/>; the last one out of a retired model disposes it.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _users) == 0 && Volatile.Read(ref _retired) == 1)
        {
            Dispose();
        }
    }

    /// <summary>No new runs: the model is disposed once the runs in progress have ended (at once when there are none).</summary>
    public void Retire()
    {
        Volatile.Write(ref _retired, 1);
        if (Volatile.Read(ref _users) == 0)
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _session.Dispose();
        lock (_bulkLock)
        {
            foreach (var session in _bulkSessions)
            {
                session.Dispose();
            }
            _bulkSessions.Clear();
            _onnx = null;
        }
    }
}
