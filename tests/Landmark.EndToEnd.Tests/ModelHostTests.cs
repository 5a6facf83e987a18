using Landmark.Embedder;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Onnx;
using Landmark.Storage;
using Landmark.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>The embedder's model host with a model that is not live (the target of a roll-out, asked for by every
/// re-embedding message at once).</summary>
public sealed class ModelHostTests
{
    [Fact]
    public async Task A_burst_of_requests_for_a_model_that_is_not_live_loads_it_once_and_shares_it()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-model-host");
        var store = new SlowModelReads(new LocalDiskObjectStore(data.Path));
        var registry = new ModelRegistry(store);
        var options = Options.Create(new EmbedderOptions { DefaultModel = DefaultModels.Baseline, BulkStreams = 1 });
        var imaging = new ImagePipeline(new ImagingOptions());
        var live = new BatchingEmbedder(imaging, options);
        var host = new ModelHost(registry, live, imaging, options, NullLoggerFactory.Instance, NullLogger<ModelHost>.Instance);
        await host.StartAsync(CancellationToken.None);
        try
        {
            await host.Ready;
            var artifact = BaselineModel.Build(new BaselineOptions { InputSize = 96, Grids = [1], Orientations = 4 });
            var version = (await registry.RegisterAsync(artifact.OnnxBytes,
                artifact.Manifest with { Version = "burst-" + artifact.Manifest.Version[^8..], Kind = ModelManifest.KindImported })).Version;
            store.SlowDown(version);

            // Eight callers on their own threads released together, as a roll-out's re-embedding messages arrive; every
            // read of the model's files takes 100 ms on the caller's thread, so callers overlap while the first load is
            // still reading.
            using var gate = new ManualResetEventSlim();
            var embedders = new BatchingEmbedder[8];
            var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var threads = Enumerable.Range(0, embedders.Length).Select(i => new Thread(() =>
            {
                try
                {
                    gate.Wait();
                    embedders[i] = host.GetEmbedderAsync(version, CancellationToken.None).GetAwaiter().GetResult();
                }
                catch (Exception ex)
                {
                    errors.Enqueue(ex);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            gate.Set();
            threads.ForEach(t => t.Join());
            Assert.Empty(errors);

            Assert.Single(embedders.Distinct());
            Assert.Equal(1, store.GraphReads);
            Assert.NotSame(live, embedders[0]);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
            await live.DisposeAsync();
        }
    }

    /// <summary>A store whose reads of one model's files block their caller for 100 ms (as a slow disk or network would
    /// before the first await), counting reads of its graph.</summary>
    private sealed class SlowModelReads(IObjectStore inner) : DelegatingObjectStore(inner)
    {
        private string? _slowPrefix;
        private int _graphReads;

        public int GraphReads => Volatile.Read(ref _graphReads);

        public void SlowDown(string version) => _slowPrefix = version + "/";

        public override Task<VersionedObject?> GetVersionedAsync(string bucket, string key, CancellationToken cancellationToken = default)
        {
            OnRead(bucket, key);
            return base.GetVersionedAsync(bucket, key, cancellationToken);
        }

        public override Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
        {
            OnRead(bucket, key);
            return base.OpenReadAsync(bucket, key, cancellationToken);
        }

        public override Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default)
        {
            OnRead(bucket, key);
            return base.StatAsync(bucket, key, cancellationToken);
        }

        private void OnRead(string bucket, string key)
        {
            if (bucket == Buckets.Models && _slowPrefix is { } prefix && key.StartsWith(prefix, StringComparison.Ordinal))
            {
                if (key.EndsWith("/model.onnx", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _graphReads);
                }
                Thread.Sleep(100);
            }
        }
    }
}
