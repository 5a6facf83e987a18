using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.EndToEnd.Tests;

/// <summary>Model roll-out and rollback on the embedded platform, through the public gRPC API.</summary>
public sealed class ModelRolloutTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Rollout_reembeds_the_gallery_while_the_old_model_answers_then_switches_and_rollback_returns_to_the_old_model()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-rollout");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        var retrieval = new RetrievalService.RetrievalServiceClient(platform.Channel);
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var photos = dataset.Train.Take(14).Select(i => (Image: i, Role: ImageRole.Landmark))
            .Concat(dataset.NonLandmarks.Take(4).Select(i => (Image: i, Role: ImageRole.NonLandmark))).ToList();
        var ids = new List<string>();
        foreach (var (image, role) in photos)
        {
            ids.Add(await UploadAsync(platform, image, role));
        }
        Assert.All(await platform.WaitForPipelineAsync(ids, Timeout), r => Assert.Equal(ImageStatus.Indexed, r.Status));

        var oldVersion = (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version;
        var newVersion = await RegisterSecondModelAsync(platform);
        Assert.NotEqual(oldVersion, newVersion);
        var query = ByteString.CopyFrom(await File.ReadAllBytesAsync(dataset.ReadSplit("val").Queries[0].Path));

        // Recognition runs throughout; every call must succeed.
        var answers = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var recognizing = RecognizeUntilStoppedAsync(platform, query, answers, stop.Token);
        await WaitAsync(() => Task.FromResult(!answers.IsEmpty), "a first answer");

        var published = await platform.Models.PublishModelAsync(new PublishModelRequest { Version = newVersion });
        Assert.Equal(newVersion, published.Version);
        Assert.Equal(oldVersion, published.LiveVersion);
        Assert.Equal(oldVersion, published.PreviousVersion);
        Assert.Equal(RolloutStatus.Types.State.Pending, published.State);

        // An upload during the roll-out is embedded with the live model and must reach the new index too.
        var late = dataset.Train.Skip(14).First();
        ids.Add(await UploadAsync(platform, late, ImageRole.Landmark));

        var live = await WaitForRolloutAsync(platform, newVersion);
        await WaitAsync(() => Task.FromResult(answers.Last() == newVersion), "recognition answering with the new model");
        Assert.All(await platform.WaitForPipelineAsync(ids, Timeout), r => Assert.Equal(ImageStatus.Indexed, r.Status));

        var sequence = answers.ToList();
        output.WriteLine($"{sequence.Count} recognitions: {sequence.Count(v => v == oldVersion)} by {oldVersion}, then {sequence.Count(v => v == newVersion)} by {newVersion}");
        Assert.Equal(oldVersion, sequence[0]);
        var switchedAt = sequence.IndexOf(newVersion);
        Assert.All(sequence.Take(switchedAt), v => Assert.Equal(oldVersion, v));
        Assert.All(sequence.Skip(switchedAt), v => Assert.Equal(newVersion, v));

        // The new collection holds every gallery image (the late one included) and is the live alias.
        await WaitAsync(async () => (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion })).Points == ids.Count,
            "every gallery image in the new index");
        var liveIndex = await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest());
        Assert.Equal(ids.Count, liveIndex.Points);
        Assert.Equal((await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion })).IndexVersion, liveIndex.IndexVersion);
        Assert.True(live.ImagesTotal >= photos.Count, $"roll-out covered {live.ImagesTotal} images");
        Assert.Equal(live.ImagesTotal, live.ImagesDone);
        Assert.Equal(oldVersion, live.PreviousVersion);

        var models = (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models;
        Assert.Equal(newVersion, Assert.Single(models, m => m.Live).Version);
        Assert.Equal(0.5, models.Single(m => m.Version == newVersion).Metrics["val_gap"]);

        // An image added while the new model is live, then a rollback: the old index gets it too.
        var afterSwitch = dataset.Train.Skip(15).First();
        ids.Add(await UploadAsync(platform, afterSwitch, ImageRole.Landmark));
        var record = (await platform.WaitForPipelineAsync([ids[^1]], Timeout)).Single();
        Assert.Equal(newVersion, record.ModelVersion);

        var rollback = await platform.Models.RollbackModelAsync(new RollbackModelRequest());
        Assert.Equal(oldVersion, rollback.Version);
        Assert.Equal(newVersion, rollback.LiveVersion);
        await WaitForRolloutAsync(platform, oldVersion);
        await WaitAsync(() => Task.FromResult(answers.Last() == oldVersion), "recognition answering with the old model again");
        await stop.CancelAsync();
        await recognizing;

        var afterRollback = answers.Skip(sequence.Count).ToList();
        var backAt = afterRollback.IndexOf(oldVersion);
        Assert.All(afterRollback.Skip(backAt), v => Assert.Equal(oldVersion, v));
        Assert.Equal(ids.Count, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = oldVersion })).Points);
        Assert.Equal(ids.Count, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest())).Points);
        models = (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models;
        Assert.Equal(oldVersion, Assert.Single(models, m => m.Live).Version);
    }

    [Fact]
    public async Task A_rollout_interrupted_by_a_restart_resumes_and_goes_live_with_every_gallery_image()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-rollout-restart");
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var ids = new List<string>();
        string oldVersion;
        string newVersion;
        RolloutStatus atStop;
        await using (var platform = await EmbeddedPlatform.StartAsync(data.Path))
        {
            foreach (var image in dataset.Train.Take(40))
            {
                ids.Add(await UploadAsync(platform, image, ImageRole.Landmark));
            }
            Assert.All(await platform.WaitForPipelineAsync(ids, Timeout), r => Assert.Equal(ImageStatus.Indexed, r.Status));
            oldVersion = (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version;
            newVersion = await RegisterSecondModelAsync(platform);
            await platform.Models.PublishModelAsync(new PublishModelRequest { Version = newVersion });
            atStop = await platform.Models.GetRolloutAsync(new GetRolloutRequest());
        } // The embedded platform's in-memory messages of the roll-out end here.
        output.WriteLine($"stopped with the roll-out {atStop.State}, {atStop.ImagesDone}/{atStop.ImagesTotal} images");

        await using var restarted = await EmbeddedPlatform.StartAsync(data.Path);
        var live = await WaitForRolloutAsync(restarted, newVersion);
        Assert.Equal(oldVersion, live.PreviousVersion);
        var query = ByteString.CopyFrom(await File.ReadAllBytesAsync(dataset.ReadSplit("val").Queries[0].Path));
        await WaitAsync(async () => (await restarted.Recognition.RecognizeAsync(new RecognizeRequest { Image = query })).ModelVersion == newVersion,
            "recognition answering with the new model");
        var retrieval = new RetrievalService.RetrievalServiceClient(restarted.Channel);
        Assert.Equal(ids.Count, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest { ModelVersion = newVersion })).Points);
        Assert.Equal(ids.Count, (await retrieval.GetIndexStatsAsync(new GetIndexStatsRequest())).Points);
    }

    [Fact]
    public async Task Publishing_an_unregistered_or_unloadable_model_is_refused_and_rollback_without_a_previous_model_fails_its_precondition()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-rollout-errors");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        await WaitAsync(async () => (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Any(m => m.Live), "the baseline model");

        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
            await platform.Models.PublishModelAsync(new PublishModelRequest { Version = "no-such-model" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal((ErrorReasons.ModelNotFound, "no-such-model"), (ApiErrors.ErrorInfoOf(missing)!.Reason, ApiErrors.ErrorInfoOf(missing)!.Metadata["version"]));
        var garbage = new ModelManifest { Version = "not-onnx-1", Kind = ModelManifest.KindImported, InputSize = 64, Dimension = 8 };
        await platform.Services.GetRequiredService<ModelRegistry>().RegisterAsync([1, 2, 3, 4], garbage);
        var unloadable = await Assert.ThrowsAsync<RpcException>(async () =>
            await platform.Models.PublishModelAsync(new PublishModelRequest { Version = garbage.Version }));
        Assert.Equal(StatusCode.FailedPrecondition, unloadable.StatusCode);
        Assert.Equal(ErrorReasons.ModelNotServable, ApiErrors.ErrorInfoOf(unloadable)!.Reason);
        Assert.Contains("cannot be served", unloadable.Status.Detail, StringComparison.Ordinal);
        var rollback = await Assert.ThrowsAsync<RpcException>(async () => await platform.Models.RollbackModelAsync(new RollbackModelRequest()));
        Assert.Equal(StatusCode.FailedPrecondition, rollback.StatusCode);
        var status = await platform.Models.GetRolloutAsync(new GetRolloutRequest());
        Assert.Equal(RolloutStatus.Types.State.None, status.State);
        Assert.Equal((await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version, status.LiveVersion);
    }

    private static Task<string> UploadAsync(EmbeddedPlatform platform, DatasetImage image, ImageRole role) => Pipeline.UploadAsync(platform.Ingest, image, role);

    /// <summary>A second embedding model with its own version: the baseline graph with other settings.</summary>
    private static async Task<string> RegisterSecondModelAsync(EmbeddedPlatform platform)
    {
        var artifact = BaselineModel.Build(new BaselineOptions { InputSize = 160, Grids = [1, 2], Orientations = 6 });
        var manifest = artifact.Manifest with
        {
            Version = "rollout-test-" + artifact.Manifest.Version[^8..],
            Kind = ModelManifest.KindImported,
            Metrics = new Dictionary<string, double> { ["val_gap"] = 0.5 },
        };
        var registry = platform.Services.GetRequiredService<ModelRegistry>();
        return (await registry.RegisterAsync(artifact.OnnxBytes, manifest)).Version;
    }

    private static async Task RecognizeUntilStoppedAsync(EmbeddedPlatform platform, ByteString query, ConcurrentQueue<string> answers, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var answer = await platform.Recognition.RecognizeAsync(new RecognizeRequest { Image = query, TopK = 3 }, cancellationToken: CancellationToken.None);
            Assert.NotEmpty(answer.Neighbours);
            answers.Enqueue(answer.ModelVersion);
            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task<RolloutStatus> WaitForRolloutAsync(EmbeddedPlatform platform, string version)
    {
        RolloutStatus? status = null;
        await WaitAsync(async () =>
        {
            status = await platform.Models.GetRolloutAsync(new GetRolloutRequest());
            return status.Version == version && status.State == RolloutStatus.Types.State.Live && status.LiveVersion == version;
        }, $"the roll-out of {version}");
        return status!;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }
            await Task.Delay(100);
        }
    }
}
