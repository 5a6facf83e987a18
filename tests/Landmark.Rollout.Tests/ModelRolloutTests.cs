using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Storage;
using Landmark.Testing;
using Landmark.Trainer;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Landmark.Rollout.Tests;

/// <summary>The trainer's roll-out bookkeeping against a local-disk registry and MassTransit's in-memory test harness.</summary>
public sealed class ModelRolloutTests : IAsyncLifetime
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-rollout-unit");
    private ServiceProvider _services = null!;
    private ITestHarness _harness = null!;
    private ModelRegistry _registry = null!;
    private ModelRollout _rollout = null!;
    private string _old = "";
    private string _new = "";
    private string _third = "";

    public async Task InitializeAsync()
    {
        _services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IObjectStore>(new LocalDiskObjectStore(_root.Path))
            .AddSingleton<ModelRegistry>()
            .AddSingleton<ModelRollout>()
            .AddMassTransitTestHarness(x => x.ConfigureUsageTelemetryOptions(o => o.Enabled = false))
            .BuildServiceProvider(true);
        _harness = _services.GetRequiredService<ITestHarness>();
        await _harness.Start();
        _registry = _services.GetRequiredService<ModelRegistry>();
        _rollout = _services.GetRequiredService<ModelRollout>();
        _old = (await _registry.EnsureBaselineLiveAsync()).Version;
        _new = await RegisterAsync(new BaselineOptions { InputSize = 160 });
        _third = await RegisterAsync(new BaselineOptions { InputSize = 128 });
    }

    public async Task DisposeAsync()
    {
        await _harness.Stop();
        await _services.DisposeAsync();
        _root.Dispose();
    }

    private async Task<string> RegisterAsync(BaselineOptions options)
    {
        var model = BaselineModel.Build(options);
        return (await _registry.RegisterAsync(model.OnnxBytes, model.Manifest)).Version;
    }

    private int Published<T>(Func<T, bool> where) where T : class =>
        _harness.Published.Select<T>().Count(m => where(m.Context.Message));

    [Fact]
    public async Task Publishing_records_a_pending_rollout_and_announces_the_model_without_moving_the_live_pointer()
    {
        var status = await _rollout.PublishAsync(_new, CancellationToken.None);

        Assert.Equal(RolloutStatus.Types.State.Pending, status.State);
        Assert.Equal(_new, status.Version);
        Assert.Equal(_old, status.LiveVersion);
        Assert.Equal(_old, status.PreviousVersion);
        Assert.Equal(_old, await _registry.GetLiveVersionAsync());
        Assert.Equal(1, Published<ModelPublished>(m => m.ModelVersion == _new && m.ObjectKey == ModelRegistry.ModelKey(_new)));
        Assert.Equal(RolloutStatus.Types.State.Pending, (await _rollout.GetStatusAsync(CancellationToken.None)).State);
    }

    [Fact]
    public async Task Progress_then_reindexed_makes_the_model_live_and_a_repeat_announces_the_same_activation_again()
    {
        await _rollout.PublishAsync(_new, CancellationToken.None);
        await _rollout.OnProgressAsync(new GalleryReindexProgress(_new, 10, 4), CancellationToken.None);
        var progress = await _rollout.GetStatusAsync(CancellationToken.None);
        Assert.Equal(RolloutStatus.Types.State.Reindexing, progress.State);
        Assert.Equal((10, 4), (progress.ImagesTotal, progress.ImagesDone));

        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 9, 1), _harness.Bus, CancellationToken.None);
        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 9, 1), _harness.Bus, CancellationToken.None);

        var live = await _rollout.GetStatusAsync(CancellationToken.None);
        Assert.Equal((RolloutStatus.Types.State.Live, _new, 10L, 10L, 1L), (live.State, live.LiveVersion, live.ImagesTotal, live.ImagesDone, live.ImagesSkipped));
        Assert.Equal([_old, _new], (await _registry.GetLiveHistoryAsync()).Select(h => h.Version));
        var activations = _harness.Published.Select<ModelActivated>().Select(m => m.Context.Message).ToList();
        Assert.Equal(2, activations.Count);
        Assert.All(activations, a => Assert.Equal((_new, _old), (a.ModelVersion, a.PreviousVersion)));
        Assert.Single(activations.Select(a => a.ActivatedAt).Distinct());
    }

    [Fact]
    public async Task A_reindex_of_a_superseded_model_is_ignored()
    {
        await _rollout.PublishAsync(_new, CancellationToken.None);
        await _rollout.PublishAsync(_third, CancellationToken.None);

        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 5, 0), _harness.Bus, CancellationToken.None);
        await _rollout.OnProgressAsync(new GalleryReindexProgress(_new, 5, 5), CancellationToken.None);

        var status = await _rollout.GetStatusAsync(CancellationToken.None);
        Assert.Equal((_third, RolloutStatus.Types.State.Pending, _old), (status.Version, status.State, status.LiveVersion));
        Assert.Equal(_old, await _registry.GetLiveVersionAsync());
        Assert.Equal(0, Published<ModelActivated>(_ => true));
    }

    [Fact]
    public async Task Rollback_returns_to_the_previous_live_model_and_during_a_rollout_cancels_it()
    {
        await _rollout.PublishAsync(_new, CancellationToken.None);
        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 3, 0), _harness.Bus, CancellationToken.None);

        var back = await _rollout.RollbackAsync(null, CancellationToken.None);
        Assert.Equal((_old, _new, RolloutStatus.Types.State.Pending), (back.Version, back.LiveVersion, back.State));

        // A roll-out in progress is cancelled by rolling out the live model again.
        await _rollout.PublishAsync(_third, CancellationToken.None);
        var cancel = await _rollout.RollbackAsync("", CancellationToken.None);
        Assert.Equal((_new, _new), (cancel.Version, cancel.LiveVersion));
        Assert.Equal(RolloutStatus.Types.State.Pending, cancel.State);
        Assert.Equal(1, Published<ModelPublished>(m => m.ModelVersion == _new && m.PublishedAt == cancel.StartTime.ToDateTimeOffset()));
    }

    [Fact]
    public async Task Publishing_the_live_model_with_nothing_in_progress_changes_nothing_and_unknown_versions_are_refused()
    {
        var status = await _rollout.PublishAsync(_old, CancellationToken.None);
        Assert.Equal(RolloutStatus.Types.State.None, status.State);
        Assert.Equal(0, Published<ModelPublished>(_ => true));

        await Assert.ThrowsAsync<ModelNotRegisteredException>(() => _rollout.PublishAsync("no-such-model", CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => _rollout.RollbackAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task A_rollout_in_which_no_gallery_image_could_be_embedded_fails_and_the_live_model_stays()
    {
        await _rollout.PublishAsync(_new, CancellationToken.None);
        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 0, 7), _harness.Bus, CancellationToken.None);
        await _rollout.OnReindexedAsync(new GalleryReindexed(_new, 0, 7), _harness.Bus, CancellationToken.None);

        var status = await _rollout.GetStatusAsync(CancellationToken.None);
        Assert.Equal((RolloutStatus.Types.State.Failed, _old, 7L), (status.State, status.LiveVersion, status.ImagesSkipped));
        Assert.Equal(_old, await _registry.GetLiveVersionAsync());
        Assert.Equal(0, Published<ModelActivated>(_ => true));
        // A failed roll-out is not in progress: the model can be published again.
        Assert.Equal(RolloutStatus.Types.State.Pending, (await _rollout.PublishAsync(_new, CancellationToken.None)).State);
    }
}
