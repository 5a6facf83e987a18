using Google.Protobuf;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Storage;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Distributed.IntegrationTests;

public sealed class RolloutOverRabbitMqTests(DistributedPlatform platform, ITestOutputHelper output) : IClassFixture<DistributedPlatform>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Rollout_over_rabbitmq_reindexes_the_gallery_switches_every_embedder_replica_and_rolls_back()
    {
        // A second embedder replica that never polls the registry: only the per-replica ModelActivated event can switch it.
        var replica = new EmbedderService.EmbedderServiceClient(await platform.StartEmbedderReplicaAsync("--Landmark:Embedder:LiveModelPollSeconds=0"));
        var retrieval = new RetrievalService.RetrievalServiceClient(platform.RetrievalChannel);
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var ids = new List<string>();
        foreach (var (image, role) in dataset.Train.Take(12).Select(i => (i, ImageRole.Landmark)).Concat(dataset.NonLandmarks.Take(4).Select(i => (i, ImageRole.NonLandmark))))
        {
            ids.Add((await platform.Ingest.UploadImageAsync(new UploadImageRequest
            {
                Metadata = new ImageMetadata { FileName = Path.GetFileName(image.Path), Role = role, LandmarkId = image.LandmarkId ?? "", ExternalId = image.Id },
                Content = ByteString.CopyFrom(await File.ReadAllBytesAsync(image.Path)),
            })).ImageId);
        }
        Assert.All(await platform.WaitForPipelineAsync(ids, Timeout), r => Assert.Equal(ImageStatus.Indexed, r.Status));

        var oldVersion = (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version;
        var artifact = BaselineModel.Build(new BaselineOptions { InputSize = 128, Grids = [1, 2] });
        var registry = new ModelRegistry(new LocalDiskObjectStore(platform.ObjectsPath));
        var newVersion = (await registry.RegisterAsync(artifact.OnnxBytes, artifact.Manifest with { Version = "rabbit-rollout-" + artifact.Manifest.Version[^8..] })).Version;
        var query = ByteString.CopyFrom(await File.ReadAllBytesAsync(dataset.ReadSplit("val").Queries[0].Path));
        Assert.Equal(oldVersion, await ReplicaVersionAsync(replica, query));

        var published = await platform.Models.PublishModelAsync(new PublishModelRequest { Version = newVersion });
        Assert.Equal(oldVersion, published.LiveVersion);
        await WaitAsync(async () => await platform.IsLiveAsync(newVersion), $"the roll-out of {newVersion}");
        await WaitAsync(async () => await ReplicaVersionAsync(replica, query) == newVersion, "the replica switching to the new model");
        await WaitAsync(async () => (await platform.Recognition.RecognizeAsync(new RecognizeRequest { Image = query })).ModelVersion == newVersion,
            "recognition answering with the new model");

        var newIndex = await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion });
        Assert.Equal(ids.Count, newIndex.Points);
        Assert.Equal(newIndex.IndexVersion, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest())).IndexVersion);
        Assert.Equal(newVersion, Assert.Single((await platform.Models.ListModelsAsync(new ListModelsRequest())).Models, m => m.Live).Version);

        var rollback = await platform.Models.RollbackModelAsync(new RollbackModelRequest());
        Assert.Equal(oldVersion, rollback.Version);
        await WaitAsync(async () => await platform.IsLiveAsync(oldVersion), $"the rollback to {oldVersion}");
        await WaitAsync(async () => await ReplicaVersionAsync(replica, query) == oldVersion, "the replica switching back");
        Assert.Equal(ids.Count, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest())).Points);

        if (platform.Broker.Node is not null)
        {
            var queues = platform.Broker.ListQueues(platform.VirtualHost);
            foreach (var queue in new[] { QueueNames.Reembed, QueueNames.CatalogRollout, QueueNames.ModelUpdates, QueueNames.IndexActivation })
            {
                Assert.True(queues.ContainsKey(queue), $"queue {queue} missing; have {string.Join(", ", queues.Keys)}");
                Assert.False(queues.ContainsKey(queue + QueueNames.ErrorSuffix) && queues[queue + QueueNames.ErrorSuffix] > 0, $"{queue} has failed messages");
            }
            Assert.Equal(2, queues.Keys.Count(q => q.StartsWith(QueueNames.EmbedderActivation, StringComparison.Ordinal)));
        }
        output.WriteLine($"rolled out {newVersion} over {ids.Count} images and back to {oldVersion} over RabbitMQ");
    }

    private static Task WaitAsync(Func<Task<bool>> condition, string what) => DistributedPlatform.WaitUntilAsync(condition, Timeout, what);

    private static async Task<string> ReplicaVersionAsync(EmbedderService.EmbedderServiceClient embedder, ByteString image) =>
        (await embedder.EmbedAsync(new EmbedRequest { Images = { image } })).ModelVersion;
}
