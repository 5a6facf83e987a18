using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Storage;
using Landmark.Testing;
using Xunit;

namespace Landmark.Embedding.Tests;

public sealed class ModelRegistryTests : IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-models");
    private readonly ModelRegistry _registry;

    public ModelRegistryTests() => _registry = new ModelRegistry(new LocalDiskObjectStore(_root.Path));

    [Fact]
    public async Task Empty_registry_publishes_the_baseline_once_and_makes_it_live()
    {
        Assert.Null(await _registry.GetLiveAsync());
        var first = await Task.WhenAll(_registry.EnsureBaselineLiveAsync(), _registry.EnsureBaselineLiveAsync());
        Assert.Equal(first[0].Version, first[1].Version);
        Assert.Equal(first[0].Version, (await _registry.GetLiveAsync())!.Version);
        Assert.Single(await _registry.ListAsync());
        var (onnx, manifest) = await _registry.LoadAsync(first[0].Version);
        Assert.Equal(BaselineModel.Build().OnnxBytes, onnx);
        Assert.Equal(first[0].Dimension, manifest.Dimension);
    }

    [Fact]
    public async Task Registering_twice_is_idempotent_and_live_can_move_between_versions()
    {
        var a = BaselineModel.Build();
        var b = BaselineModel.Build(new BaselineOptions { InputSize = 160 });
        await _registry.RegisterAsync(a.OnnxBytes, a.Manifest);
        await _registry.RegisterAsync(a.OnnxBytes, a.Manifest);
        await _registry.RegisterAsync(b.OnnxBytes, b.Manifest);
        Assert.Equal(2, (await _registry.ListAsync()).Count);
        await _registry.SetLiveAsync(b.Manifest.Version);
        Assert.Equal(b.Manifest.Version, (await _registry.GetLiveAsync())!.Version);
        await _registry.SetLiveAsync(a.Manifest.Version);
        Assert.Equal(a.Manifest.Version, (await _registry.GetLiveAsync())!.Version);
        await Assert.ThrowsAsync<ArgumentException>(() => _registry.SetLiveAsync("unknown-version"));
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task Live_history_lists_each_switch_once_and_names_the_version_to_roll_back_to()
    {
        var a = BaselineModel.Build();
        var b = BaselineModel.Build(new BaselineOptions { InputSize = 160 });
        await _registry.RegisterAsync(a.OnnxBytes, a.Manifest);
        await _registry.RegisterAsync(b.OnnxBytes, b.Manifest);
        Assert.Null(await _registry.GetPreviousLiveVersionAsync());

        await _registry.SetLiveAsync(a.Manifest.Version);
        Assert.Null(await _registry.GetPreviousLiveVersionAsync());
        await _registry.SetLiveAsync(b.Manifest.Version);
        await _registry.SetLiveAsync(b.Manifest.Version);
        Assert.Equal([a.Manifest.Version, b.Manifest.Version], (await _registry.GetLiveHistoryAsync()).Select(h => h.Version));
        Assert.Equal(b.Manifest.Version, await _registry.GetLiveVersionAsync());
        Assert.Equal(a.Manifest.Version, await _registry.GetPreviousLiveVersionAsync());

        await _registry.SetLiveAsync(a.Manifest.Version);
        Assert.Equal(b.Manifest.Version, await _registry.GetPreviousLiveVersionAsync());
        Assert.Equal(3, (await _registry.GetLiveHistoryAsync()).Count);
    }
}
