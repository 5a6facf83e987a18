using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Storage;
using Landmark.Testing;
using Microsoft.Extensions.Options;
using SkiaSharp;
using Xunit;

namespace Landmark.Embedding.Tests;

public sealed class BatchingEmbedderTests : IAsyncLifetime
{
    private static readonly ModelArtifact Baseline = BaselineModel.Build();
    private readonly IOptions<EmbedderOptions> _options = Options.Create(new EmbedderOptions { MaxBatchSize = 8, MaxBatchDelayMs = 20 });
    private BatchingEmbedder _embedder = null!;

    public Task InitializeAsync()
    {
        _embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), _options);
        _embedder.SwapModel(new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, _options.Value));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _embedder.DisposeAsync();

    private static byte[] Photo(int seed)
    {
        using var bitmap = new SKBitmap(200, 150);
        using (var canvas = new SKCanvas(bitmap))
        {
            var random = new Random(seed);
            canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
            using var paint = new SKPaint();
            for (var i = 0; i < 12; i++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawRect(random.Next(200), random.Next(150), random.Next(10, 80), random.Next(10, 80), paint);
            }
        }
        using var data = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    [Fact]
    public async Task Concurrent_requests_share_batches_and_each_caller_gets_its_own_embedding()
    {
        var photos = Enumerable.Range(0, 24).Select(Photo).ToArray();
        var alone = new List<float[]>();
        foreach (var p in photos.Take(3))
        {
            alone.Add(await _embedder.EmbedAsync(p));
        }
        var before = _embedder.Batches;
        var together = await Task.WhenAll(photos.Select(p => _embedder.EmbedAsync(p)));
        Assert.True(_embedder.Batches - before < photos.Length, $"{_embedder.Batches - before} batches for {photos.Length} requests");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(alone[i].Length, together[i].Length);
            for (var j = 0; j < alone[i].Length; j++)
            {
                Assert.Equal(alone[i][j], together[i][j], 1e-5);
            }
        }
    }

    [Fact]
    public async Task Interactive_requests_beyond_the_queue_limit_fail_fast_while_bulk_work_is_admitted()
    {
        var options = Options.Create(new EmbedderOptions { MaxBatchSize = 8, MaxBatchDelayMs = 5, MaxQueuedRequests = 2 });
        await using var embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), options);
        // No model yet: admitted requests wait, so the embedder is full after two.
        var first = embedder.EmbedAsync(Photo(1));
        var second = embedder.EmbedAsync(Photo(2));
        Assert.Equal(2, embedder.InFlight);

        var refused = await Assert.ThrowsAsync<EmbedderOverloadedException>(() => embedder.EmbedAsync(Photo(3)));
        var bulk = embedder.EmbedWithVersionAsync(Photo(4), default, EmbedPriority.Bulk);
        embedder.SwapModel(new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, options.Value));

        Assert.Contains("capacity", refused.Message);
        Assert.Equal(Baseline.Manifest.Dimension, (await first).Length);
        Assert.Equal(Baseline.Manifest.Dimension, (await second).Length);
        Assert.Equal(Baseline.Manifest.Version, (await bulk).ModelVersion);
        Assert.Equal(0, embedder.InFlight);
        // Room again once the earlier requests are answered.
        Assert.Equal(Baseline.Manifest.Dimension, (await embedder.EmbedAsync(Photo(5))).Length);
    }

    [Fact]
    public async Task A_request_whose_caller_has_gone_is_not_embedded_and_frees_its_place()
    {
        var options = Options.Create(new EmbedderOptions { MaxBatchSize = 8, MaxBatchDelayMs = 400, MaxQueuedRequests = 4 });
        await using var embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), options);
        embedder.SwapModel(new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, options.Value));
        using var gone = new CancellationTokenSource();
        var kept = embedder.EmbedAsync(Photo(1));
        var abandoned = embedder.EmbedAsync(Photo(2), gone.Token);
        await gone.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal(Baseline.Manifest.Dimension, (await kept).Length);
        Assert.Equal(0, embedder.InFlight);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => embedder.EmbedAsync(Photo(3), gone.Token));
    }

    [Fact]
    public async Task A_lone_request_runs_at_once_instead_of_waiting_out_the_batch_delay()
    {
        var options = Options.Create(new EmbedderOptions { MaxBatchSize = 8, MaxBatchDelayMs = 1000 });
        await using var embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), options);
        embedder.SwapModel(new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, options.Value));
        await embedder.EmbedAsync(Photo(1)); // warm-up: the first run builds the model's kernels

        // Ten requests one after another: waiting out the delay each time would take 10 s.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 10; i++)
        {
            await embedder.EmbedAsync(Photo(i));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"ten lone requests took {watch.Elapsed.TotalSeconds:F1} s with a 1 s batch delay");
        Assert.Equal(11, embedder.Batches);
    }

    [Fact]
    public async Task A_bad_image_fails_only_its_own_request()
    {
        var good = _embedder.EmbedAsync(Photo(1));
        var bad = _embedder.EmbedAsync("definitely not an image"u8.ToArray());
        var alsoGood = _embedder.EmbedAsync(Photo(2));
        var error = await Assert.ThrowsAsync<ImageRejectedException>(() => bad);
        Assert.Equal(RejectionCodes.UnsupportedFormat, error.Code);
        Assert.Equal(Baseline.Manifest.Dimension, (await good).Length);
        Assert.Equal(Baseline.Manifest.Dimension, (await alsoGood).Length);
    }

    [Fact]
    public async Task Bulk_work_runs_on_its_own_model_instances_side_by_side_and_matches_the_query_path()
    {
        var options = Options.Create(new EmbedderOptions { MaxBatchSize = 8, MaxBatchDelayMs = 5, BulkStreams = 2, BulkStreamThreads = 1 });
        await using var embedder = new BatchingEmbedder(new ImagePipeline(new ImagingOptions()), options);
        var model = new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, options.Value);
        embedder.SwapModel(model);
        var photos = Enumerable.Range(0, 32).Select(Photo).ToArray();
        var queries = new List<float[]>();
        foreach (var p in photos.Take(4))
        {
            queries.Add(await embedder.EmbedAsync(p));
        }
        Assert.Equal(0, model.BulkInstances); // queries alone never make bulk instances

        var bulk = await Task.WhenAll(photos.Select(p => embedder.EmbedWithManifestAsync(p, priority: EmbedPriority.Bulk)));

        Assert.InRange(model.BulkInstances, 1, 2); // made on demand: a second one only when the first was busy
        Assert.Equal(4, options.Value.BulkBatchSize); // MaxBatchSize shared by the two instances
        // Eight callers at once get no more instances than configured (the rest run on the main session). They are
        // threads of their own released together, each with batches of 16: a thread-pool loop of single images on two
        // cores could run them one after another, and a run that never overlaps another needs no second instance.
        var pixels = new float[16 * 3 * model.InputSize * model.InputSize];
        using (var start = new Barrier(8))
        {
            var callers = Enumerable.Range(0, 8).Select(_ => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                for (var round = 0; round < 2; round++)
                {
                    Assert.Equal(16, model.EmbedBulk((float[])pixels.Clone(), 16).Length);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
            await Task.WhenAll(callers);
        }
        Assert.Equal(2, model.BulkInstances);
        for (var i = 0; i < queries.Count; i++)
        {
            Assert.Equal(queries[i].Length, bulk[i].Vector.Length);
            for (var j = 0; j < queries[i].Length; j++)
            {
                Assert.Equal(queries[i][j], bulk[i].Vector[j], 1e-5);
            }
        }
    }

    [Fact]
    public void A_retired_model_is_disposed_only_when_its_last_run_ends()
    {
        var model = new OnnxEmbeddingModel(Baseline.OnnxBytes, Baseline.Manifest, _options.Value);
        var pixels = new float[3 * model.InputSize * model.InputSize];
        Assert.True(model.TryAcquire());
        model.Retire();
        Assert.False(model.TryAcquire()); // no new runs on a retired model
        Assert.Single(model.Embed(pixels, 1)); // the run in progress still has its session
        model.Release();
        Assert.Throws<ObjectDisposedException>(() => model.Embed(pixels, 1));
    }

    [Fact]
    public async Task Swapping_the_model_under_load_answers_every_request()
    {
        var other = BaselineModel.Build(new BaselineOptions { ColourWeight = 2, InputSize = 160 });
        var photos = Enumerable.Range(0, 16).Select(Photo).ToArray();
        var requests = photos.Select(p => _embedder.EmbedWithVersionAsync(p)).ToList();
        _embedder.SwapModel(new OnnxEmbeddingModel(other.OnnxBytes, other.Manifest, _options.Value));
        requests.AddRange(photos.Select(p => _embedder.EmbedWithVersionAsync(p)));
        var results = await Task.WhenAll(requests);
        Assert.All(results, r => Assert.Contains(r.ModelVersion, new[] { Baseline.Manifest.Version, other.Manifest.Version }));
        Assert.Equal(other.Manifest.Version, (await _embedder.EmbedWithVersionAsync(photos[0])).ModelVersion);
        Assert.Equal(other.Manifest.Version, _embedder.CurrentModel!.Version);
    }

    [Fact]
    public async Task A_real_photo_is_closer_to_a_crop_of_itself_than_to_another_landmark()
    {
        var dataset = TestPaths.RequireLandmarksMini();
        var lines = File.ReadAllLines(Path.Combine(dataset, "train.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
        var first = lines.First(l => l[1] == "1")[0];
        var other = lines.First(l => l[1] == "9")[0];
        string PathOf(string id) => Path.Combine(dataset, "images", "train", id[..1], id[1..2], id[2..3], id + ".jpg");
        var bytes = await File.ReadAllBytesAsync(PathOf(first));
        using var original = SKBitmap.Decode(bytes);
        using var crop = new SKBitmap(original.Width * 9 / 10, original.Height * 9 / 10);
        original.ExtractSubset(crop, new SKRectI(original.Width / 20, original.Height / 20, (original.Width / 20) + crop.Width, (original.Height / 20) + crop.Height));
        using var cropData = SKImage.FromBitmap(crop).Encode(SKEncodedImageFormat.Jpeg, 85);

        var a = await _embedder.EmbedAsync(bytes);
        var b = await _embedder.EmbedAsync(cropData.ToArray());
        var c = await _embedder.EmbedAsync(await File.ReadAllBytesAsync(PathOf(other)));
        static double Dot(float[] x, float[] y) => x.Zip(y, (p, q) => (double)p * q).Sum();
        Assert.True(Dot(a, b) > Dot(a, c), $"crop {Dot(a, b):F3} vs other landmark {Dot(a, c):F3}");
    }
}
