using System.Diagnostics;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Testing;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>One embedded platform with the landmarks-mini gallery (train + non-landmark) imported through the API.</summary>
public sealed class LandmarksMiniFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-e2e");

    public EmbeddedPlatform Platform { get; private set; } = null!;
    public ImportProgress Import { get; private set; } = null!;
    public TimeSpan ImportDuration { get; private set; }
    public string DatasetPath { get; } = TestPaths.RequireLandmarksMini();

    public async Task InitializeAsync()
    {
        Platform = await EmbeddedPlatform.StartAsync(_data.Path, $"--Landmark:Ingest:ImportRoots:0={DatasetPath}");
        var stopwatch = Stopwatch.StartNew();
        using var call = Platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = DatasetPath });
        ImportProgress? last = null;
        await foreach (var progress in call.ResponseStream.ReadAllAsync())
        {
            last = progress;
        }
        ImportDuration = stopwatch.Elapsed;
        Import = last ?? throw new InvalidOperationException("the import sent no progress");
    }

    public async Task DisposeAsync()
    {
        await Platform.DisposeAsync();
        _data.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class LandmarksMiniCollection : ICollectionFixture<LandmarksMiniFixture>
{
    public const string Name = "landmarks-mini";
}
