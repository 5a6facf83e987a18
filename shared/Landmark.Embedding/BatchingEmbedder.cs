using System.Collections.Concurrent;
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
/// The serving path of the embedder: requests from any number of callers queue in a channel; one loop forms batches
/// (up to <see cref="EmbedderOptions.MaxBatchSize"/>, or whatever arrived within <see cref="EmbedderOptions.MaxBatchDelayMs"/>),
/// decodes them in parallel into one input buffer and runs the model once per batch. A bad image fails only its own
/// request. <see cref="SwapModel"/> replaces the model atomically: the batch in flight finishes on the old one, which
/// is disposed afterwards.
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

    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<OnnxEmbeddingModel> _retired = new();
    private readonly TaskCompletionSource _firstModel = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ImagePipeline _imaging;
    private readonly EmbedderOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private OnnxEmbeddingModel? _model;
    private long _batches;

    public BatchingEmbedder(ImagePipeline imaging, IOptions<EmbedderOptions> options, ILogger<BatchingEmbedder>? logger = null)
    {
        _imaging = imaging;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Manifest of the live model, or null before the first <see cref="SwapModel"/>.</summary>
    public ModelManifest? CurrentModel => Volatile.Read(ref _model)?.Manifest;

    /// <summary>Number of model runs so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public void SwapModel(OnnxEmbeddingModel model)
    {
        var old = Interlocked.Exchange(ref _model, model);
        if (old is not null)
        {
            _retired.Enqueue(old);
        }
        _firstModel.TrySetResult();
    }

    /// <summary>Embeds one encoded image. Throws <see cref="ImageRejectedException"/> for an unusable image.</summary>
    public async Task<float[]> EmbedAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default) =>
        (await EmbedWithVersionAsync(encodedImage, cancellationToken)).Vector;

    /// <summary>Embeds one encoded image and says which model did it.</summary>
    public async Task<(float[] Vector, string ModelVersion)> EmbedWithVersionAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default)
    {
        var (vector, manifest) = await EmbedWithManifestAsync(encodedImage, cancellationToken);
        return (vector, manifest.Version);
    }

    /// <summary>Embeds one encoded image; the manifest of the model that did it.</summary>
    public async Task<(float[] Vector, ModelManifest Model)> EmbedWithManifestAsync(ReadOnlyMemory<byte> encodedImage, CancellationToken cancellationToken = default)
    {
        var request = new Request(encodedImage, new TaskCompletionSource<(float[], ModelManifest)>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _requests.Writer.WriteAsync(request, cancellationToken);
        return await request.Completion.Task.WaitAsync(cancellationToken);
    }

    public async Task<float[][]> EmbedManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> encodedImages, CancellationToken cancellationToken = default)
    {
        var results = await Task.WhenAll(encodedImages.Select(i => EmbedWithVersionAsync(i, cancellationToken)));
        return results.Select(r => r.Vector).ToArray();
    }

    private async Task RunAsync()
    {
        var ct = _stopping.Token;
        try
        {
            await _firstModel.Task.WaitAsync(ct);
            var batch = new List<Request>(_options.MaxBatchSize);
            while (await _requests.Reader.WaitToReadAsync(ct))
            {
                batch.Clear();
                if (_requests.Reader.TryRead(out var first))
                {
                    batch.Add(first);
                }
                var deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxBatchDelayMs * Stopwatch.Frequency / 1000.0);
                while (batch.Count < _options.MaxBatchSize)
                {
                    if (_requests.Reader.TryRead(out var next))
                    {
                        batch.Add(next);
                        continue;
                    }
                    var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                    if (remaining <= TimeSpan.Zero)
                    {
                        break;
                    }
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(remaining);
                    try
                    {
                        if (!await _requests.Reader.WaitToReadAsync(wait.Token))
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        break;
                    }
                }
                if (batch.Count > 0)
                {
                    Process(batch);
                }
                while (_retired.TryDequeue(out var old))
                {
                    old.Dispose();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _logger.LogCritical(ex, "The embedding loop stopped");
            throw;
        }
        finally
        {
            while (_requests.Reader.TryRead(out var left))
            {
                left.Completion.TrySetCanceled();
            }
        }
    }

    private void Process(List<Request> batch)
    {
        var started = Stopwatch.GetTimestamp();
        var model = Volatile.Read(ref _model)!;
        var size = model.InputSize;
        var stride = 3 * size * size;
        var buffer = new float[batch.Count * stride];
        var ok = new bool[batch.Count];
        Parallel.For(0, batch.Count, new ParallelOptions { MaxDegreeOfParallelism = _options.DecodeParallelism }, i =>
        {
            if (batch[i].Completion.Task.IsCompleted)
            {
                return;
            }
            try
            {
                _imaging.ToTensor(batch[i].Image, size, buffer.AsSpan(i * stride, stride));
                ok[i] = true;
            }
            catch (Exception ex)
            {
                batch[i].Completion.TrySetException(ex);
            }
        });

        var indices = Enumerable.Range(0, batch.Count).Where(i => ok[i]).ToArray();
        if (indices.Length == 0)
        {
            return;
        }
        try
        {
            // Compact the decoded images to the front of the buffer.
            for (var j = 0; j < indices.Length; j++)
            {
                if (indices[j] != j)
                {
                    buffer.AsSpan(indices[j] * stride, stride).CopyTo(buffer.AsSpan(j * stride, stride));
                }
            }
            var vectors = model.Embed(buffer, indices.Length);
            for (var j = 0; j < indices.Length; j++)
            {
                batch[indices[j]].Completion.TrySetResult((vectors[j], model.Manifest));
            }
            Interlocked.Increment(ref _batches);
            BatchSizes.Record(indices.Length);
            Images.Add(indices.Length);
            BatchFill.Record((double)indices.Length / Math.Max(1, _options.MaxBatchSize));
            BatchLatency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Model {Version} failed on a batch of {Count}", model.Manifest.Version, indices.Length);
            foreach (var i in indices)
            {
                batch[i].Completion.TrySetException(ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        await _stopping.CancelAsync();
        try
        {
            await _loop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
        {
        }
        Volatile.Read(ref _model)?.Dispose();
        while (_retired.TryDequeue(out var old))
        {
            old.Dispose();
        }
        _stopping.Dispose();
    }

    private sealed record Request(ReadOnlyMemory<byte> Image, TaskCompletionSource<(float[], ModelManifest)> Completion);
}
