using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Landmark.Imaging;
using Landmark.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Landmark.Embedding;

/// <summary>
/// The serving path of the embedder, a dynamic batcher in the manner of Triton's: each caller decodes its own image into
/// a tensor of the live model's input size (at most <see cref="EmbedderOptions.DecodeParallelism"/> at once), so
/// decoding overlaps the model's run on the previous batch; one loop forms batches (up to
/// <see cref="EmbedderOptions.MaxBatchSize"/>, or whatever arrived within <see cref="EmbedderOptions.MaxBatchDelayMs"/>
/// while other requests were still being decoded; a lone request runs at once) and runs the model once per batch. A bad image fails only its own request.
/// <list type="bullet">
/// <item>Admission is bounded: beyond <see cref="EmbedderOptions.MaxQueuedRequests"/> requests in the embedder, a new
/// one fails at once with <see cref="EmbedderOverloadedException"/> (gRPC <c>RESOURCE_EXHAUSTED</c>) instead of
/// queueing behind work it would time out on.</item>
/// <item>A request whose caller has gone (cancelled) is dropped before it is decoded and again before it is batched, so
/// under overload the model works only for callers still waiting.</item>
/// <item><see cref="SwapModel"/> replaces the model atomically: the batch in flight finishes on the old one, which is
/// disposed afterwards; a tensor decoded for another input size is decoded again.</item>
/// </list>
/// </summary>
public sealed class BatchingEmbedder : IAsyncDisposable
{
    private static readonly Meter Meter = new("Landmark.Embedder");
    private static readonly Histogram<int> BatchSizes = Meter.CreateHistogram<int>("landmark.embedder.batch_size");
    // Durations in seconds (OpenTelemetry semantic conventions): Prometheus name landmark_embedder_batch_duration_seconds.
    private static readonly Histogram<double> BatchLatency = Meter.CreateHistogram<double>("landmark.embedder.batch.duration", "s");
    // Share of MaxBatchSize a model run used: low fill under load means the GPU runs mostly empty batches.
    private static readonly Histogram<double> BatchFill = Meter.CreateHistogram<double>("landmark.embedder.batch.fill_ratio");
    private static readonly Counter<long> Images = Meter.CreateCounter<long>("landmark.embedder.images");
    private static readonly Counter<long> Shed = Meter.CreateCounter<long>("landmark.embedder.rejected", description: "Requests refused because the embedder was at capacity");
    private static readonly Counter<long> Abandoned = Meter.CreateCounter<long>("landmark.embedder.abandoned", description: "Requests dropped because their caller had gone");

    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<Request> _bulk = Channel.CreateUnbounded<Request>();
    private readonly TaskCompletionSource _firstModel = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ImagePipeline _imaging;
    private readonly EmbedderOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _decoders;
    private readonly Task _loop;
    private readonly Task[] _bulkLoops;
    private OnnxEmbeddingModel? _model;
    private long _batches;
    private int _inFlight;

    /// <summary>Requests being decoded (or waiting to be): a batch waits for them, up to the batch delay, and for
    /// nothing else.</summary>
    private int _arriving;

    public BatchingEmbedder(ImagePipeline imaging, IOptions<EmbedderOptions> options, ILogger<BatchingEmbedder>? logger = null)
    {
        _imaging = imaging;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _decoders = new SemaphoreSlim(_options.DecodeParallelism, _options.DecodeParallelism);
        _loop = Task.Run(RunAsync);
        _bulkLoops = [.. Enumerable.Range(0, _options.EffectiveBulkStreams).Select(_ => Task.Run(RunBulkAsync))];
    }

    /// <summary>Interactive requests admitted and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Manifest of the live model, or null before the first <see cref="SwapModel"/>.</summary>
    public ModelManifest? CurrentModel => Volatile.Read(ref _model)?.Manifest;

    /// <summary>Number of model runs so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public void SwapModel(OnnxEmbeddingModel model)
    {
        var old = Interlocked.Exchange(ref _model, model);
        old?.Retire(); // disposed when the batches running on it have finished
        _firstModel.TrySetResult();
    }

    /// <summary>Embeds one encoded image. Throws <see cref="ImageRejectedException"/> for an unusable image.</summary>
    public async Task<float[]> EmbedAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default) =>
        (await EmbedWithManifestAsync(encodedImage, cancellationToken)).Vector;

    /// <summary>Embeds one encoded image and says which model did it.</summary>
    public async Task<(float[] Vector, string ModelVersion)> EmbedWithVersionAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default,
        EmbedPriority priority = EmbedPriority.Interactive)
    {
        var (vector, manifest) = await EmbedWithManifestAsync(encodedImage, cancellationToken, priority);
        return (vector, manifest.Version);
    }

    /// <summary>
    /// Embeds one encoded image; the manifest of the model that did it. An <see cref="EmbedPriority.Interactive"/> request
    /// throws <see cref="EmbedderOverloadedException"/> when <see cref="EmbedderOptions.MaxQueuedRequests"/> interactive
    /// requests are already in hand; <see cref="EmbedPriority.Bulk"/> work (bounded by its consumers' concurrency) is
    /// never refused.
    /// </summary>
    public async Task<(float[] Vector, ModelManifest Model)> EmbedWithManifestAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default,
        EmbedPriority priority = EmbedPriority.Interactive)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var interactive = priority == EmbedPriority.Interactive;
        var admitted = interactive ? Interlocked.Increment(ref _inFlight) : 0;
        try
        {
            if (admitted > _options.MaxQueuedRequests)
            {
                Shed.Add(1);
                throw new EmbedderOverloadedException(admitted - 1);
            }
            await _firstModel.Task.WaitAsync(cancellationToken);
            var request = new Request(encodedImage, cancellationToken, new TaskCompletionSource<(float[], ModelManifest)>(TaskCreationOptions.RunContinuationsAsynchronously));
            if (interactive)
            {
                Interlocked.Increment(ref _arriving);
            }
            try
            {
                await DecodeAsync(request, Volatile.Read(ref _model)!.InputSize, cancellationToken);
                if (!(interactive ? _requests : _bulk).Writer.TryWrite(request))
                {
                    throw new ObjectDisposedException(nameof(BatchingEmbedder));
                }
            }
            finally
            {
                if (interactive)
                {
                    Interlocked.Decrement(ref _arriving);
                }
            }
            return await request.Completion.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            if (interactive)
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    /// <summary>Decodes the request's image into a tensor of <paramref name="size"/> on the caller's thread, with at most
    /// <see cref="EmbedderOptions.DecodeParallelism"/> decodes at once.</summary>
    private async Task DecodeAsync(Request request, int size, CancellationToken cancellationToken)
    {
        await _decoders.WaitAsync(cancellationToken);
        try
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Abandoned.Add(1);
                cancellationToken.ThrowIfCancellationRequested();
            }
            request.SetTensor(Decode(request.Image, size), size);
        }
        finally
        {
            _decoders.Release();
        }
    }

    /// <summary>The image as a tensor of <paramref name="size"/> in a pooled array (600 KB at 224 px: renting keeps them
    /// off the large-object heap's allocation path); returned to the pool once copied into a batch.</summary>
    private float[] Decode(ReadOnlyMemory<byte> image, int size)
    {
        var length = 3 * size * size;
        var tensor = ArrayPool<float>.Shared.Rent(length);
        try
        {
            _imaging.ToTensor(image, size, tensor.AsSpan(0, length));
            return tensor;
        }
        catch
        {
            ArrayPool<float>.Shared.Return(tensor);
            throw;
        }
    }

    /// <summary>A batching loop: waits for the first model, then forms a batch from <paramref name="channel"/> with
    /// <paramref name="fill"/> whenever work is waiting and runs it; on the way out, fails what is left in the channel.</summary>
    private async Task RunLoopAsync(Channel<Request> channel, int capacity, bool bulk,
        Func<ChannelReader<Request>, List<Request>, CancellationToken, ValueTask> fill)
    {
        var ct = _stopping.Token;
        try
        {
            await _firstModel.Task.WaitAsync(ct);
            var batch = new List<Request>(capacity);
            var inputs = new LaneBuffer(capacity);
            while (await channel.Reader.WaitToReadAsync(ct))
            {
                batch.Clear();
                await fill(channel.Reader, batch, ct);
                if (batch.Count > 0)
                {
                    Process(batch, bulk, inputs);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _logger.LogCritical(ex, "The {Lane} embedding loop stopped", bulk ? "bulk" : "interactive");
            throw;
        }
        finally
        {
            while (channel.Reader.TryRead(out var left))
            {
                left.Completion.TrySetCanceled();
            }
        }
    }

    /// <summary>One of the <see cref="EmbedderOptions.EffectiveBulkStreams"/> bulk loops: takes whatever bulk work is
    /// waiting (up to <see cref="EmbedderOptions.BulkBatchSize"/>) as soon as its instance is free, so batches form while
    /// the instances run, and runs it on a bulk instance.</summary>
    private Task RunBulkAsync() => RunLoopAsync(_bulk, _options.BulkBatchSize, bulk: true, (reader, batch, _) =>
    {
        while (batch.Count < _options.BulkBatchSize && reader.TryRead(out var next))
        {
            batch.Add(next);
        }
        return ValueTask.CompletedTask;
    });

    /// <summary>The query loop: up to <see cref="EmbedderOptions.MaxBatchSize"/> requests, waiting at most
    /// <see cref="EmbedderOptions.MaxBatchDelayMs"/> and only while other requests are still being decoded.</summary>
    private Task RunAsync() => RunLoopAsync(_requests, _options.MaxBatchSize, bulk: false, FillInteractiveBatchAsync);

    private async ValueTask FillInteractiveBatchAsync(ChannelReader<Request> reader, List<Request> batch, CancellationToken ct)
    {
        if (reader.TryRead(out var first))
        {
            batch.Add(first);
        }
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxBatchDelayMs * Stopwatch.Frequency / 1000.0);
        while (batch.Count < _options.MaxBatchSize)
        {
            if (reader.TryRead(out var next))
            {
                batch.Add(next);
                continue;
            }
            if (Volatile.Read(ref _arriving) == 0)
            {
                return; // nobody else is on the way: waiting would only add latency
            }
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(remaining);
            try
            {
                if (!await reader.WaitToReadAsync(wait.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>The live model with a reference taken for one run (see <see cref="OnnxEmbeddingModel.TryAcquire"/>).</summary>
    private OnnxEmbeddingModel AcquireModel()
    {
        while (true)
        {
            var model = Volatile.Read(ref _model)!;
            if (model.TryAcquire())
            {
                return model;
            }
        }
    }

    private void Process(List<Request> batch, bool bulk, LaneBuffer inputs)
    {
        var started = Stopwatch.GetTimestamp();
        var model = AcquireModel();
        try
        {
            Process(batch, model, bulk, inputs, started);
        }
        finally
        {
            model.Release();
        }
    }

    private void Process(List<Request> batch, OnnxEmbeddingModel model, bool bulk, LaneBuffer inputs, long started)
    {
        var size = model.InputSize;
        var stride = 3 * size * size;
        var indices = new List<int>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var request = batch[i];
            if (request.CallerToken.IsCancellationRequested)
            {
                Abandoned.Add(1);
                request.ReturnTensor();
                request.Completion.TrySetCanceled(request.CallerToken);
                continue;
            }
            if (request.TensorSize != size)
            {
                // Decoded for the model before a swap: decode again for this one.
                request.ReturnTensor();
                try
                {
                    request.SetTensor(Decode(request.Image, size), size);
                }
                catch (Exception ex)
                {
                    request.Completion.TrySetException(ex);
                    continue;
                }
            }
            indices.Add(i);
        }
        if (indices.Count == 0)
        {
            return;
        }
        var buffer = inputs.For(stride);
        try
        {
            for (var j = 0; j < indices.Count; j++)
            {
                batch[indices[j]].Tensor.AsSpan(0, stride).CopyTo(buffer.AsSpan(j * stride, stride));
                batch[indices[j]].ReturnTensor();
            }
            var vectors = bulk ? model.EmbedBulk(buffer, indices.Count) : model.EmbedOwned(buffer, indices.Count);
            for (var j = 0; j < indices.Count; j++)
            {
                batch[indices[j]].Completion.TrySetResult((vectors[j], model.Manifest));
            }
            var lane = new KeyValuePair<string, object?>("lane", bulk ? "bulk" : "interactive");
            Interlocked.Increment(ref _batches);
            BatchSizes.Record(indices.Count, lane);
            Images.Add(indices.Count, lane);
            BatchFill.Record((double)indices.Count / Math.Max(1, bulk ? _options.BulkBatchSize : _options.MaxBatchSize), lane);
            BatchLatency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, lane);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Model {Version} failed on a batch of {Count}", model.Manifest.Version, indices.Count);
            foreach (var i in indices)
            {
                batch[i].Completion.TrySetException(ex);
            }
        }
    }

    /// <summary>A batching loop's own input buffer, a full batch at the live model's size, reused by every batch of
    /// that loop (each loop runs one batch at a time). Batches of 4.8–9.6 MB from the shared pool missed it whenever the
    /// array sat in another thread's cache: about 140 MB of the large-object heap per 747-image import.</summary>
    private sealed class LaneBuffer(int capacity)
    {
        private float[] _floats = [];

        /// <summary>The buffer for images of <paramref name="stride"/> floats (made again only when a model with larger
        /// images goes live).</summary>
        public float[] For(int stride)
        {
            if (_floats.Length < capacity * stride)
            {
                _floats = new float[capacity * stride];
            }
            return _floats;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        _bulk.Writer.TryComplete();
        await _stopping.CancelAsync();
        foreach (var loop in _bulkLoops.Prepend(_loop))
        {
            try
            {
                await loop;
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
            }
        }
        Volatile.Read(ref _model)?.Retire();
        _stopping.Dispose();
    }

    /// <summary>One caller's image, its decoded tensor (for <see cref="TensorSize"/>) and the caller's cancellation.</summary>
    private sealed class Request(ReadOnlyMemory<byte> image, CancellationToken callerToken, TaskCompletionSource<(float[], ModelManifest)> completion)
    {
        public ReadOnlyMemory<byte> Image { get; } = image;

        public CancellationToken CallerToken { get; } = callerToken;

        public TaskCompletionSource<(float[], ModelManifest)> Completion { get; } = completion;

        /// <summary>The decoded image in a pooled array (longer than the tensor); empty until decoded.</summary>
        public float[] Tensor { get; private set; } = [];

        public int TensorSize { get; private set; }

        public void SetTensor(float[] tensor, int size)
        {
            Tensor = tensor;
            TensorSize = size;
        }

        /// <summary>Gives the pooled array back; the request holds no tensor afterwards.</summary>
        public void ReturnTensor()
        {
            if (Tensor.Length > 0)
            {
                ArrayPool<float>.Shared.Return(Tensor);
            }
            Tensor = [];
            TensorSize = 0;
        }
    }
}

/// <summary>Who is waiting for an embedding: a caller on the line (shed under overload) or queued bulk work (never shed).</summary>
public enum EmbedPriority
{
    Interactive,
    Bulk,
}

/// <summary>The embedder has <see cref="EmbedderOptions.MaxQueuedRequests"/> requests in hand; the caller should back
/// off and retry (served as gRPC <c>RESOURCE_EXHAUSTED</c>).</summary>
public sealed class EmbedderOverloadedException(int waiting)
    : Exception($"the embedder is at capacity ({waiting} requests in progress); retry with backoff")
{
    public int Waiting { get; } = waiting;
}
