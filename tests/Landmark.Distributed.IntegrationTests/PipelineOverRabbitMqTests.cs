using Google.Protobuf;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Distributed.IntegrationTests;

public sealed class PipelineOverRabbitMqTests(DistributedPlatform platform, ITestOutputHelper output) : IClassFixture<DistributedPlatform>
{
    [Fact]
    public async Task Images_uploaded_to_ingest_are_indexed_through_the_broker_and_recognized_by_the_scorer()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var landmarks = dataset.Landmarks.Keys.Order(StringComparer.Ordinal).Take(4).ToHashSet();
        var gallery = dataset.Train.Where(i => landmarks.Contains(i.LandmarkId!)).GroupBy(i => i.LandmarkId).SelectMany(g => g.Take(10)).ToList();
        var distractors = dataset.NonLandmarks.Take(12).ToList();

        await platform.Ingest.UpsertLandmarksAsync(new UpsertLandmarksRequest
        {
            Landmarks = { landmarks.Select(l => new Contracts.Api.V1.Landmark { LandmarkId = l, Name = dataset.Landmarks[l] }) },
        });
        var ids = new List<string>();
        foreach (var (image, role) in gallery.Select(g => (g, ImageRole.Landmark)).Concat(distractors.Select(d => (d, ImageRole.NonLandmark))))
        {
            var response = await platform.Ingest.UploadImageAsync(new UploadImageRequest
            {
                Metadata = new ImageMetadata { FileName = Path.GetFileName(image.Path), Role = role, LandmarkId = image.LandmarkId ?? "", ExternalId = image.Id },
                Content = ByteString.CopyFrom(await File.ReadAllBytesAsync(image.Path)),
            });
            ids.Add(response.ImageId);
        }
        var truncated = (await File.ReadAllBytesAsync(gallery[0].Path))[..5000];
        var bad = await platform.Ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "cut.jpg", Role = ImageRole.Landmark, LandmarkId = gallery[0].LandmarkId },
            Content = ByteString.CopyFrom(truncated),
        });

        var records = await platform.WaitForPipelineAsync([.. ids, bad.ImageId], TimeSpan.FromMinutes(3));
        Assert.Equal(ids.Count, records.Count(r => r.Status == ImageStatus.Indexed));
        var rejected = Assert.Single(records, r => r.Status == ImageStatus.Rejected);
        Assert.Equal(bad.ImageId, rejected.ImageId);

        // Every pipeline queue exists on the broker and is drained. The catalog shows the last status a moment before its
        // consumer's acknowledgement reaches the broker, so the count is read again for up to 10 s.
        var queues = platform.Broker.ListQueues(platform.VirtualHost);
        for (var drained = DateTime.UtcNow.AddSeconds(10); queues.Values.Any(n => n > 0) && DateTime.UtcNow < drained; queues = platform.Broker.ListQueues(platform.VirtualHost))
        {
            await Task.Delay(200);
        }
        if (platform.Broker.Node is not null)
        {
            foreach (var queue in new[] { QueueNames.Preprocess, QueueNames.Embed, QueueNames.Index, QueueNames.CatalogUpdates })
            {
                Assert.True(queues.ContainsKey(queue), $"queue {queue} missing; have {string.Join(", ", queues.Keys)}");
                Assert.Equal(0, queues[queue]);
            }
        }

        // A gallery photo is recognized through scorer → embedder → retrieval over gRPC.
        var probe = gallery[5];
        var answer = await platform.Recognition.RecognizeAsync(new RecognizeRequest { Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(probe.Path)), TopK = 3 });
        Assert.Equal(probe.LandmarkId, answer.LandmarkId);
        Assert.Equal(dataset.Landmarks[probe.LandmarkId!], answer.LandmarkName);
        Assert.Equal(probe.Id, answer.Neighbours[0].ExternalId);
        output.WriteLine($"indexed {ids.Count} images over RabbitMQ; probe answered {answer.LandmarkId} ({answer.Confidence:F3})");
    }
}
