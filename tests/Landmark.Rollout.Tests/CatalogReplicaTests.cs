using Landmark.Contracts.Messages;
using Landmark.Ingest;
using Landmark.Storage;
using Landmark.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Landmark.Rollout.Tests;

/// <summary>Two catalogs (two ingest replicas) over one local-disk store, each with its own store instance and cache:
/// whatever goes through one is seen and kept by the other.</summary>
public sealed class CatalogReplicaTests : IAsyncLifetime
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-catalog-replicas");
    private ImageCatalog _a = null!;
    private ImageCatalog _b = null!;

    public async Task InitializeAsync()
    {
        _a = new ImageCatalog(new LocalDiskObjectStore(_root.Path), NullLogger<ImageCatalog>.Instance);
        _b = new ImageCatalog(new LocalDiskObjectStore(_root.Path), NullLogger<ImageCatalog>.Instance);
        await _a.LoadAsync(CancellationToken.None);
        await _b.LoadAsync(CancellationToken.None);
    }

    private static CatalogRecord NewRecord(string id, DateTimeOffset at) => new()
    {
        ImageId = id,
        FileName = id + ".jpg",
        Role = GalleryRole.Landmark,
        LandmarkId = "l",
        IngestedAt = at,
        UpdatedAt = at,
    };

    [Fact]
    public async Task Landmark_names_upserted_concurrently_through_both_replicas_are_all_kept()
    {
        var upserts = Enumerable.Range(0, 40).Select(i => Task.Run(() => (i % 2 == 0 ? _a : _b).UpsertLandmarksAsync(
            [KeyValuePair.Create($"l{i:D2}", $"Landmark {i}")], CancellationToken.None)));
        Assert.All(await Task.WhenAll(upserts), changed => Assert.Equal(1, changed));

        var seenByA = await _a.GetLandmarksAsync(CancellationToken.None);
        var seenByB = await _b.GetLandmarksAsync(CancellationToken.None);
        Assert.Equal(40, seenByA.Count);
        Assert.Equal(seenByA.OrderBy(kv => kv.Key), seenByB.OrderBy(kv => kv.Key));
        // A rename through one replica reaches the other's (cached) view.
        Assert.Equal(1, await _b.UpsertLandmarksAsync([KeyValuePair.Create("l07", "Renamed")], CancellationToken.None));
        Assert.Equal("Renamed", (await _a.GetLandmarksAsync(CancellationToken.None))["l07"]);
        Assert.Equal(0, await _a.UpsertLandmarksAsync([KeyValuePair.Create("l07", "Renamed")], CancellationToken.None));
    }

    [Fact]
    public async Task The_same_image_added_through_both_replicas_at_once_is_added_exactly_once()
    {
        var t = DateTimeOffset.UtcNow;
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
            (i % 2 == 0 ? _a : _b).AddAsync(NewRecord("same-hash", t.AddTicks(i)), CancellationToken.None))));

        var added = Assert.Single(results, r => r.Added);
        Assert.All(results.Where(r => !r.Added), r => Assert.Equal(added.Record.IngestedAt, r.Record.IngestedAt));
        Assert.Equal(added.Record.IngestedAt, (await _b.GetFreshAsync("same-hash", CancellationToken.None))!.IngestedAt);
    }

    [Fact]
    public async Task Listings_of_each_replica_hold_the_images_added_and_updated_through_the_other()
    {
        var t = DateTimeOffset.UtcNow;
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => Task.Run(() =>
            (i % 2 == 0 ? _a : _b).AddAsync(NewRecord($"img{i:D2}", t), CancellationToken.None))));
        Assert.Equal(30, (await _a.ListAsync(CancellationToken.None)).Count);

        // Events for one image handled by different replicas at once: the preprocessing details and the indexing both land.
        await Task.WhenAll(Enumerable.Range(0, 30).SelectMany(i => new[]
        {
            Task.Run(() => (i % 2 == 0 ? _a : _b).UpdateAsync($"img{i:D2}", r => r with
            {
                Status = r.Status < CatalogStatus.Preprocessed ? CatalogStatus.Preprocessed : r.Status, Format = "Jpeg", Width = 640, Height = 480,
            }, CancellationToken.None)),
            Task.Run(() => (i % 2 == 0 ? _b : _a).UpdateAsync($"img{i:D2}", r => r.WithIndexed("m1"), CancellationToken.None)),
        }));

        foreach (var catalog in new[] { _a, _b })
        {
            var records = await catalog.ListAsync(CancellationToken.None);
            Assert.Equal(30, records.Count);
            Assert.All(records, r =>
            {
                Assert.Equal(CatalogStatus.Indexed, r.Status);
                Assert.Equal("Jpeg", r.Format);
                Assert.Equal(["m1"], r.IndexedVersions);
            });
        }
    }

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }
}
