using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Faults.IntegrationTests;

/// <summary>
/// Import while something breaks, then check that every image is indexed exactly once: the catalog says INDEXED for
/// every id, the index holds exactly one point per id (count and each id checked), nothing was rejected.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class FaultTests(ITestOutputHelper output)
{
    private const int LandmarkImages = 48;
    private const int NonLandmarkImages = 12;
    private static readonly TimeSpan UploadPatience = TimeSpan.FromMinutes(3);

    private static IReadOnlyList<(DatasetImage Image, ImageRole Role)> Images()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        return dataset.Train.Where((_, i) => i % 11 == 0).Take(LandmarkImages).Select(i => (i, ImageRole.Landmark))
            .Concat(dataset.NonLandmarks.Take(NonLandmarkImages).Select(i => (i, ImageRole.NonLandmark))).ToList();
    }

    /// <summary>Uploads every image (4 at a time) and runs <paramref name="fault"/> once a third of them is in.</summary>
    private async Task RunImportWithFaultAsync(ProcessCluster cluster, string description, Func<Task> fault)
    {
        var images = Images();
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        var attempts = 0;
        var uploaded = 0;
        var faultTask = Task.CompletedTask;
        var faultStarted = 0;
        await Parallel.ForEachAsync(images, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (item, _) =>
        {
            var metadata = new ImageMetadata
            {
                FileName = Path.GetFileName(item.Image.Path),
                Role = item.Role,
                LandmarkId = item.Image.LandmarkId ?? "",
                ExternalId = item.Image.Id,
            };
            var (id, tries) = await cluster.UploadWithRetryAsync(await File.ReadAllBytesAsync(item.Image.Path), metadata, UploadPatience);
            ids.Add(id);
            Interlocked.Add(ref attempts, tries);
            if (Interlocked.Increment(ref uploaded) == images.Count / 3 && Interlocked.Exchange(ref faultStarted, 1) == 0)
            {
                faultTask = Task.Run(fault);
            }
        });
        await faultTask;

        var unique = ids.Distinct().ToList();
        var records = await cluster.WaitForPipelineAsync(unique, TimeSpan.FromMinutes(4));
        Assert.Equal(images.Count, unique.Count);
        Assert.All(records, r => Assert.Equal(ImageStatus.Indexed, r.Status));

        var stats = await cluster.Retrieval.GetIndexStatsAsync(new GetIndexStatsRequest());
        var missing = 0;
        foreach (var id in unique)
        {
            if (!(await cluster.Retrieval.GetVectorAsync(new GetVectorRequest { ImageId = id })).Found)
            {
                missing++;
            }
        }
        output.WriteLine($"{description}: {images.Count} images imported, {attempts - images.Count} upload retries, " +
            $"{stats.Points} points indexed, lost {missing}, duplicates {stats.Points - unique.Count}");
        Assert.Equal(0, missing);
        Assert.Equal(unique.Count, stats.Points);
    }

    [Fact]
    public async Task Killing_consumer_processes_mid_import_loses_nothing_and_indexes_each_image_once()
    {
        await using var cluster = await ProcessCluster.StartAsync();
        await RunImportWithFaultAsync(cluster, "kill preprocess + embedder", async () =>
        {
            cluster["preprocess"].Kill();
            cluster["embedder"].Kill();
            await Task.Delay(1500);
            await cluster["preprocess"].StartAsync();
            await cluster["embedder"].StartAsync();
        });
    }

    [Fact]
    public async Task Restarting_the_broker_mid_import_loses_nothing_and_indexes_each_image_once()
    {
        await using var cluster = await ProcessCluster.StartAsync();
        await RunImportWithFaultAsync(cluster, "restart RabbitMQ", () => Task.Run(() => cluster.Broker.Restart(TimeSpan.FromSeconds(3))));
    }

    [Fact]
    public async Task S3_unavailable_for_a_while_loses_nothing_and_indexes_each_image_once()
    {
        await using var cluster = await ProcessCluster.StartAsync();
        await RunImportWithFaultAsync(cluster, "S3 gateway down 5 s", () => Task.Run(() => cluster.S3.RestartGateway(TimeSpan.FromSeconds(5))));
    }
}

/// <summary>The fault tests share the broker and the S3 server: they run one after another.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultCollection
{
    public const string Name = "faults";
}
