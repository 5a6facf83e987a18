using System.Text;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Recognition;
using Landmark.Storage;
using Landmark.Testing;
using Xunit;

namespace Landmark.Embedding.Tests;

public class ModelManifestScorerSettingsTests
{
    [Fact]
    public async Task A_manifest_written_with_scorer_settings_as_a_dictionary_keyed_TopK_is_read_as_typed_settings()
    {
        using var root = TestPaths.CreateTempDirectory("landmark-manifest");
        var store = new LocalDiskObjectStore(root.Path);
        await store.EnsureBucketAsync(Buckets.Models);
        // As the registry wrote it before the settings were typed (ScorerCalibrator's dictionary, TopK for the voters).
        const string written = """
            {
              "version": "trained-v1-0001",
              "kind": "trained",
              "inputSize": 224,
              "dimension": 512,
              "metrics": { "gap": 0.9 },
              "scorerSettings": { "TopK": 3, "Power": 9, "NonLandmarkWeight": 0.5, "Gain": 40, "SomethingRetired": 1 }
            }
            """;
        await store.PutBytesAsync(Buckets.Models, "trained-v1-0001/manifest.json", Encoding.UTF8.GetBytes(written), "application/json");

        var manifest = await new ModelRegistry(store).GetAsync("trained-v1-0001");

        Assert.NotNull(manifest);
        Assert.Equal(new ModelScorerSettings { VotingNeighbours = 3, Power = 9, NonLandmarkWeight = 0.5, Gain = 40 }, manifest.ScorerSettings);
        var applied = new ScorerOptions().WithModelSettings(manifest.ScorerSettings);
        Assert.Equal(3, applied.VotingNeighbours);
        Assert.Equal(new ScorerOptions().MinConfidence, applied.MinConfidence);
    }

    [Fact]
    public async Task Registered_settings_are_stored_as_a_flat_map_under_the_new_names_and_read_back_equal()
    {
        using var root = TestPaths.CreateTempDirectory("landmark-manifest");
        var store = new LocalDiskObjectStore(root.Path);
        var registry = new ModelRegistry(store);
        var settings = new ModelScorerSettings { VotingNeighbours = 5, Gain = 10 };
        await registry.RegisterAsync([1, 2, 3], new ModelManifest
        {
            Version = "trained-v1-0002", Kind = ModelManifest.KindTrained, InputSize = 224, Dimension = 512, ScorerSettings = settings,
        });

        var json = Encoding.UTF8.GetString((await store.TryGetBytesAsync(Buckets.Models, "trained-v1-0002/manifest.json"))!);
        Assert.Matches("\"VotingNeighbours\":\\s*5", json);
        Assert.DoesNotContain("TopK", json);
        Assert.Equal(settings, (await registry.GetAsync("trained-v1-0002"))!.ScorerSettings);
    }

    [Fact]
    public async Task A_manifest_without_scorer_settings_or_with_null_has_none()
    {
        using var root = TestPaths.CreateTempDirectory("landmark-manifest");
        var store = new LocalDiskObjectStore(root.Path);
        await store.EnsureBucketAsync(Buckets.Models);
        await store.PutBytesAsync(Buckets.Models, "a/manifest.json",
            Encoding.UTF8.GetBytes("""{ "version": "a", "kind": "trained", "inputSize": 224, "dimension": 8 }"""), "application/json");
        await store.PutBytesAsync(Buckets.Models, "b/manifest.json",
            Encoding.UTF8.GetBytes("""{ "version": "b", "kind": "trained", "inputSize": 224, "dimension": 8, "scorerSettings": null }"""), "application/json");
        var registry = new ModelRegistry(store);

        Assert.True((await registry.GetAsync("a"))!.ScorerSettings.IsEmpty);
        Assert.True((await registry.GetAsync("b"))!.ScorerSettings.IsEmpty);
    }
}
