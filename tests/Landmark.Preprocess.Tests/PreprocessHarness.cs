using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.Storage;
using Landmark.Testing;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Landmark.Preprocess.Tests;

/// <summary>The preprocess consumer with its definition on MassTransit's in-memory test harness, over a local-disk
/// store that counts (and can slow down) reads of raw images.</summary>
internal sealed class PreprocessHarness : IAsyncDisposable
{
    private readonly TempDirectory _root;
    private readonly ServiceProvider _services;

    private PreprocessHarness(TempDirectory root, ServiceProvider services, CountingStore store)
    {
        _root = root;
        _services = services;
        Store = store;
        Harness = services.GetRequiredService<ITestHarness>();
    }

    public ITestHarness Harness { get; }

    public CountingStore Store { get; }

    public string StoreRoot => _root.Path;

    public static async Task<PreprocessHarness> StartAsync(PreprocessOptions options, ImagingOptions? imaging = null, TimeSpan? rawReadDelay = null)
    {
        var root = TestPaths.CreateTempDirectory("landmark-preprocess");
        var store = new CountingStore(new LocalDiskObjectStore(root.Path), rawReadDelay ?? TimeSpan.Zero);
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IObjectStore>(store)
            .AddSingleton(new ImagePipeline(imaging ?? new ImagingOptions()))
            .AddSingleton(Options.Create(options))
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build())
            .AddMassTransitTestHarness(x =>
            {
                x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
                PreprocessModule.AddConsumers(x);
            })
            .BuildServiceProvider(true);
        foreach (var bucket in Buckets.All)
        {
            await store.EnsureBucketAsync(bucket);
        }
        var harness = new PreprocessHarness(root, services, store);
        harness.Harness.TestTimeout = TimeSpan.FromMinutes(5);
        await harness.Harness.Start();
        return harness;
    }

    public async Task<ImageIngested> IngestAsync(string id, byte[] bytes, Action<PublishContext>? headers = null)
    {
        var key = $"{id}/original";
        await Store.PutBytesAsync(Buckets.Raw, key, bytes, "application/octet-stream");
        var message = new ImageIngested(id, key, $"{id}.jpg", GalleryRole.Landmark, "1", null, bytes.Length, DateTimeOffset.UtcNow);
        await Harness.Bus.Publish(message, context => headers?.Invoke(context));
        return message;
    }

    /// <summary>Waits until every id has an answer (preprocessed or rejected) and returns them by id.</summary>
    public async Task<Dictionary<string, object>> AnswersAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var answers = new Dictionary<string, object>();
            foreach (var m in Harness.Published.Select<ImagePreprocessed>())
            {
                answers.TryAdd(m.Context.Message.ImageId, m.Context.Message);
            }
            foreach (var m in Harness.Published.Select<ImageRejected>())
            {
                answers.TryAdd(m.Context.Message.ImageId, m.Context.Message);
            }
            if (ids.All(answers.ContainsKey) || DateTime.UtcNow > deadline)
            {
                return answers;
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _services.DisposeAsync();
        _root.Dispose();
    }

    /// <summary>Counts raw reads, the most at once, and optionally holds each read (so consumers overlap).</summary>
    public sealed class CountingStore(IObjectStore inner, TimeSpan rawReadDelay) : DelegatingObjectStore(inner)
    {
        private int _inFlight;
        private int _maxInFlight;
        private int _rawReads;

        public int RawReads => Volatile.Read(ref _rawReads);

        public int MaxConcurrentRawReads => Volatile.Read(ref _maxInFlight);

        public override async Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
        {
            if (bucket != Buckets.Raw)
            {
                return await base.OpenReadAsync(bucket, key, cancellationToken);
            }
            Interlocked.Increment(ref _rawReads);
            var now = Interlocked.Increment(ref _inFlight);
            int seen;
            while ((seen = Volatile.Read(ref _maxInFlight)) < now && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen)
            {
            }
            try
            {
                if (rawReadDelay > TimeSpan.Zero)
                {
                    await Task.Delay(rawReadDelay, cancellationToken);
                }
                return await base.OpenReadAsync(bucket, key, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
