using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Datasets;
using Landmark.Embedding;
using Landmark.Ingest;
using Landmark.Onnx;
using Landmark.Recognition;
using Landmark.Storage;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Distributed.IntegrationTests;

/// <summary>The services over RabbitMQ and a real S3 server, with a second ingest host: two replicas of the catalog
/// sharing its queues and its bucket, with the server-side import confined to a directory of the test.</summary>
public sealed class IngestReplicasPlatform : DistributedPlatform
{
    private readonly TempDirectory _imports;

    public IngestReplicasPlatform() : this(TestPaths.CreateTempDirectory("landmark-ingest-replicas"))
    {
    }

    private IngestReplicasPlatform(TempDirectory imports) : base(s3Storage: true, $"--Landmark:Ingest:ImportRoots:0={imports.Path}") =>
        _imports = imports;

    /// <summary>The directory server-side imports may read.</summary>
    public string ImportRoot => _imports.Path;

    /// <summary>The second ingest replica (the first is <see cref="DistributedPlatform.Ingest"/>).</summary>
    public IngestService.IngestServiceClient SecondIngest { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        SecondIngest = new IngestService.IngestServiceClient(await StartIngestReplicaAsync());
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _imports.Dispose();
    }
}

public sealed class IngestReplicaTests(IngestReplicasPlatform platform, ITestOutputHelper output) : IClassFixture<IngestReplicasPlatform>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Two_ingest_replicas_over_rabbitmq_and_s3_lose_no_image_no_landmark_name_and_no_image_in_a_rollout()
    {
        var replicas = new[] { platform.Ingest, platform.SecondIngest };
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var landmarks = dataset.Train.GroupBy(i => i.LandmarkId!).Where(g => g.Count() >= 3).OrderBy(g => g.Key, StringComparer.Ordinal).Take(6).ToList();
        Assert.Equal(6, landmarks.Count);
        // Two folder-per-class datasets sharing landmarks 2 and 3: their six photos are the same bytes in both.
        var partA = WriteDataset("part-a", landmarks.Take(4));
        var partB = WriteDataset("part-b", landmarks.Skip(2));

        // Both imports and 40 landmark-name upserts (20 through each replica) at once: every one changes landmarks.json.
        var imports = new[] { ImportAsync(replicas[0], partA), ImportAsync(replicas[1], partB) };
        var upserts = Enumerable.Range(0, 40).Select(i => replicas[i % 2].UpsertLandmarksAsync(new UpsertLandmarksRequest
        {
            Landmarks = { new Contracts.Api.V1.Landmark { LandmarkId = $"named-{i:D2}", Name = $"Landmark number {i}" } },
        }).ResponseAsync).ToList();
        var imported = await Task.WhenAll(imports);
        var upserted = await Task.WhenAll(upserts);

        const int uniqueImages = 18, expectedLandmarks = 6 + 40;
        Assert.Equal(24, imported.Sum(p => p.Submitted));
        Assert.Equal(6, imported.Sum(p => p.Duplicates)); // idempotence by content hash across replicas
        Assert.All(imported, p => Assert.Empty(p.Errors));
        Assert.All(upserted, u => Assert.Equal(1, u.Count));
        foreach (var replica in replicas)
        {
            var stats = await replica.GetStatsAsync(new GetStatsRequest());
            Assert.Equal(uniqueImages, stats.Total);
            Assert.Equal(uniqueImages, stats.Indexed);
            Assert.Equal(expectedLandmarks, stats.Landmarks);
            Assert.Equal(expectedLandmarks, (await replica.ListLandmarksAsync(new ListLandmarksRequest())).Landmarks.Count);
            Assert.Equal(uniqueImages, (await ListImagesAsync(replica)).Count);
        }
        output.WriteLine($"imported {imported.Sum(p => p.Submitted)} files ({imported.Sum(p => p.Duplicates)} duplicates) and upserted " +
                         $"{upserted.Length} landmark names through 2 replicas: each replica lists {uniqueImages} images and {expectedLandmarks} landmarks");

        // A roll-out, with four more images uploaded through the second replica while it runs.
        var oldVersion = (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version;
        var artifact = BaselineModel.Build(new BaselineOptions { InputSize = 128, Grids = [1, 2] });
        var store = platform.CreateStore();
        var newVersion = (await new ModelRegistry(store).RegisterAsync(artifact.OnnxBytes,
            artifact.Manifest with { Version = "replica-rollout-" + artifact.Manifest.Version[^8..] })).Version;
        Assert.Equal(oldVersion, (await platform.Models.PublishModelAsync(new PublishModelRequest { Version = newVersion })).LiveVersion);
        var late = dataset.Train.Where(i => landmarks.All(g => g.Key != i.LandmarkId)).Take(4).ToList();
        foreach (var image in late)
        {
            await platform.SecondIngest.UploadImageAsync(new UploadImageRequest
            {
                Metadata = new ImageMetadata { FileName = Path.GetFileName(image.Path), Role = ImageRole.Landmark, LandmarkId = image.LandmarkId!, ExternalId = image.Id },
                Content = ByteString.CopyFrom(await File.ReadAllBytesAsync(image.Path)),
            });
        }
        const int total = uniqueImages + 4;

        await WaitAsync(async () => await platform.IsLiveAsync(newVersion), $"the roll-out of {newVersion}");
        var retrieval = new RetrievalService.RetrievalServiceClient(platform.RetrievalChannel);
        // Every image, whichever replica ingested it and whenever, ends up in the new model's index and record.
        await WaitAsync(async () => (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion })).Points == total,
            $"{total} images in the index of {newVersion}");
        foreach (var replica in replicas)
        {
            await WaitAsync(async () => (await ListImagesAsync(replica)).Count(r => r.Status == ImageStatus.Indexed && r.ModelVersion == newVersion) == total,
                $"{total} records indexed with {newVersion}");
        }
        var points = (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion })).Points;
        var snapshot = (await store.GetJsonAsync<RolloutSnapshot>(Buckets.Catalog, "rollout.json",
            new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)))!.Value.Value;
        Assert.Equal(newVersion, snapshot.Live);
        Assert.Null(snapshot.Target);
        Assert.Equal(expectedLandmarks, (await replicas[1].GetStatsAsync(new GetStatsRequest())).Landmarks);
        output.WriteLine($"rolled out {newVersion}: {points} points in its index, {total} records indexed with it on both replicas");
    }

    private static Task WaitAsync(Func<Task<bool>> condition, string what) => DistributedPlatform.WaitUntilAsync(condition, Timeout, what);

    private string WriteDataset(string name, IEnumerable<IGrouping<string, DatasetImage>> landmarks)
    {
        var root = Directory.CreateDirectory(Path.Combine(platform.ImportRoot, name)).FullName;
        foreach (var group in landmarks)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, group.Key)).FullName;
            foreach (var image in group.Take(3))
            {
                File.Copy(image.Path, Path.Combine(folder, Path.GetFileName(image.Path)));
            }
        }
        return root;
    }

    private static async Task<ImportProgress> ImportAsync(IngestService.IngestServiceClient replica, string path)
    {
        using var call = replica.ImportDataset(new ImportDatasetRequest { Path = path, IncludeNonLandmarks = false },
            deadline: DateTime.UtcNow + Timeout);
        var last = new ImportProgress();
        var errors = new List<ImportError>();
        await foreach (var progress in call.ResponseStream.ReadAllAsync())
        {
            errors.AddRange(progress.Errors);
            last = progress;
        }
        Assert.True(last.Done, $"the import of {path} ended before it was done");
        last.Errors.Clear();
        last.Errors.AddRange(errors);
        return last;
    }

    private static async Task<List<ImageRecord>> ListImagesAsync(IngestService.IngestServiceClient replica)
    {
        var records = new List<ImageRecord>();
        var request = new ListImagesRequest { PageSize = 100 };
        do
        {
            var page = await replica.ListImagesAsync(request);
            records.AddRange(page.Images);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return records;
    }
}
