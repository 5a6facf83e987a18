using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Faults.IntegrationTests;

/// <summary>The embedded platform as an OS process, SIGKILLed in the middle of a training epoch: after a restart the job
/// resumes from its last checkpoint and ends with the same figures as an uninterrupted job with the same options.</summary>
public sealed class TrainingCrashTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> SmallJob = new()
    {
        ["Epochs"] = "10",
        ["WarmupEpochs"] = "1",
        ["ImageSize"] = "64",
        ["BatchSize"] = "8",
        ["EmbeddingDimension"] = "32",
        ["Backbone:Pretrained"] = "none",
        ["Backbone:Widths:0"] = "16",
        ["Backbone:Widths:1"] = "32",
        ["Backbone:Widths:2"] = "64",
        ["Backbone:Depths:0"] = "1",
        ["Backbone:Depths:1"] = "1",
        ["Backbone:Depths:2"] = "1",
        ["Backbone:StemWidth"] = "16",
        ["CheckpointIntervalSteps"] = "2",
        ["MinImagesPerClass"] = "4",
        ["ValidationFraction"] = "0.2",
        ["Threads"] = "1",
    };

    [Fact]
    public async Task Killing_the_trainer_mid_epoch_resumes_from_the_checkpoint_and_ends_like_an_uninterrupted_run()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        using var data = TestPaths.CreateTempDirectory("landmark-train-crash");
        var logs = Directory.CreateDirectory(Path.Combine(data.Path, "logs")).FullName;
        await using var platform = new ServiceProcess("platform", TestPaths.FreeTcpPort(), logs,
            [$"--Landmark:DataDirectory={Path.Combine(data.Path, "data")}", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Landmark=Information"]);
        await platform.StartAsync();

        await ImportAsync(platform, dataset);

        // The job that gets killed.
        var killedAt = await StartAndKillMidEpochAsync(platform, "crashed");
        output.WriteLine($"killed at step {killedAt.Step}/{killedAt.TotalSteps}, last checkpoint at step {killedAt.CheckpointStep}");

        await platform.StartAsync();
        using var after = GrpcChannel.ForAddress(platform.Address);
        var training = new TrainingService.TrainingServiceClient(after);
        var resumed = await WatchToEndAsync(training, "crashed");
        var uninterrupted = await RunToEndAsync(training, "uninterrupted");

        output.WriteLine($"resumed:       {Describe(resumed)}");
        output.WriteLine($"uninterrupted: {Describe(uninterrupted)}");
        Assert.Equal(TrainingJob.Types.State.Completed, resumed.Job.State);
        Assert.Equal(TrainingJob.Types.State.Completed, uninterrupted.Job.State);
        Assert.True(resumed.Job.Resumes == 1,
            $"resumes {resumed.Job.Resumes}; killed at step {killedAt.Step}/{killedAt.TotalSteps} (checkpoint {killedAt.CheckpointStep}); " +
            $"the resumed job ended at step {resumed.Job.Step}, last updated {resumed.Job.UpdateTime}");
        Assert.Equal(0, uninterrupted.Job.Resumes);
        Assert.Equal(uninterrupted.Job.TotalSteps, resumed.Job.Step);
        // Tolerance: 1e-3 on loss and 0.02 on validation GAP (the per-step batches are identical; only floating-point
        // summation order may differ).
        foreach (var (epoch, loss) in uninterrupted.Losses)
        {
            Assert.True(resumed.Losses.TryGetValue(epoch, out var other), $"epoch {epoch} missing after the resume");
            Assert.True(Math.Abs(loss - other) <= 1e-3 * Math.Max(1, loss), $"epoch {epoch}: loss {loss:F5} uninterrupted vs {other:F5} resumed");
        }
        Assert.InRange(Math.Abs(uninterrupted.Job.Metrics["val_gap"] - resumed.Job.Metrics["val_gap"]), 0, 0.02);
        Assert.NotEmpty(resumed.Job.ModelVersion);
    }

    [Fact]
    public async Task A_one_shot_trainer_process_killed_mid_training_resumes_its_job_when_started_again_with_the_same_id()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        using var data = TestPaths.CreateTempDirectory("landmark-train-oneshot");
        var logs = Directory.CreateDirectory(Path.Combine(data.Path, "logs")).FullName;
        var dataDirectory = Path.Combine(data.Path, "data");
        await using var platform = new ServiceProcess("platform", TestPaths.FreeTcpPort(), logs,
            [$"--Landmark:DataDirectory={dataDirectory}", "--Logging:LogLevel:Default=Warning"]);
        await platform.StartAsync();
        await ImportAsync(platform, dataset);

        // `trainer train` as the chart's Kubernetes Job runs it: same object store, the platform's ingest API.
        string[] args =
        [
            "train",
            "--Landmark:TrainingJob:Id=nightly-1",
            "--Landmark:TrainingJob:Publish=false",
            "--Landmark:Storage:Provider=Local",
            $"--Landmark:Storage:Local:Root={Path.Combine(dataDirectory, "objects")}",
            $"--Landmark:Endpoints:Ingest={platform.Address}",
            "--Landmark:Hosting:ListenOnAnyAddress=false",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Landmark=Information",
            .. SmallJob.Select(kv => $"--Landmark:Training:{kv.Key}={kv.Value}"),
        ];
        using var channel = GrpcChannel.ForAddress(platform.Address);
        var training = new TrainingService.TrainingServiceClient(channel);
        await using (var first = new ServiceProcess("trainer", TestPaths.FreeTcpPort(), logs, args))
        {
            await first.StartAsync(waitServing: false);
            // The job record lives in the shared object store: the platform's trainer lists it but leaves it alone.
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (true)
            {
                Assert.False(first.HasExited, "the one-shot trainer ended before it could be killed:\n" + first.Log);
                var job = (await training.ListTrainingJobsAsync(new ListTrainingJobsRequest())).Jobs.SingleOrDefault(j => j.JobId == "nightly-1");
                if (job is { State: TrainingJob.Types.State.Training, CheckpointStep: > 0 } && job.CheckpointStep < job.TotalSteps / 2)
                {
                    first.Kill();
                    output.WriteLine($"killed the one-shot trainer at checkpoint step {job.CheckpointStep}/{job.TotalSteps}");
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, $"no checkpoint in time; job: {job}");
                await Task.Delay(100);
            }
        }

        // The retried pod: same job id.
        await using var second = new ServiceProcess("trainer", TestPaths.FreeTcpPort(), logs, args);
        await second.StartAsync(waitServing: false);
        var exit = await second.WaitForExitAsync(TimeSpan.FromMinutes(5));
        Assert.True(exit == 0, "exit code " + exit + ":\n" + second.Log);
        var done = (await training.ListTrainingJobsAsync(new ListTrainingJobsRequest())).Jobs.Single(j => j.JobId == "nightly-1");
        output.WriteLine($"{done.State} after {done.Resumes} resume(s), model {done.ModelVersion}, val_gap {done.Metrics.GetValueOrDefault("val_gap"):F4}");
        Assert.Equal(TrainingJob.Types.State.Completed, done.State);
        Assert.Equal(1, done.Resumes);
        Assert.Equal(done.TotalSteps, done.Step);
        Assert.Contains((await new ModelService.ModelServiceClient(channel).ListModelsAsync(new ListModelsRequest())).Models, m => m.Version == done.ModelVersion);
    }

    /// <summary>Three landmarks, twelve photos each, through the public upload API; waits until indexed.</summary>
    private static async Task ImportAsync(ServiceProcess platform, Dataset dataset)
    {
        using var channel = GrpcChannel.ForAddress(platform.Address);
        await Pipeline.UploadLandmarksAsync(new IngestService.IngestServiceClient(channel), dataset, classes: 3, perClass: 12, TimeSpan.FromMinutes(2));
    }

    private static string Describe(Outcome o) =>
        $"{o.Job.State} steps {o.Job.Step}/{o.Job.TotalSteps} resumes {o.Job.Resumes} model {o.Job.ModelVersion} val_gap {o.Job.Metrics.GetValueOrDefault("val_gap"):F4} " +
        string.Join(" ", o.Losses.OrderBy(l => l.Key).Select(l => string.Create(CultureInfo.InvariantCulture, $"e{l.Key}={l.Value:F4}")));

    private static async Task<TrainingJob> StartAndKillMidEpochAsync(ServiceProcess platform, string jobId)
    {
        using var channel = GrpcChannel.ForAddress(platform.Address);
        var training = new TrainingService.TrainingServiceClient(channel);
        var request = new StartTrainingRequest { JobId = jobId, Publish = false };
        request.Options.Add(SmallJob);
        using var call = training.StartTraining(request);
        // The job's state is asked for, every 20 ms, rather than read off the progress stream: on a loaded CI machine that
        // stream lagged behind the job by whole epochs, and a kill decided on a stale update came after the job had
        // finished (a completed job with no resume, which looked like a resume that had lost its checkpoint).
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (true)
        {
            var now = (await training.ListTrainingJobsAsync(new ListTrainingJobsRequest(), cancellationToken: timeout.Token)).Jobs
                .SingleOrDefault(j => j.JobId == jobId);
            if (now is not null)
            {
                Assert.NotEqual(TrainingJob.Types.State.Failed, now.State);
                if (now.State == TrainingJob.Types.State.Completed)
                {
                    break;
                }
                if (MidEpoch(now))
                {
                    platform.Kill();
                    return now;
                }
            }
            await Task.Delay(20, timeout.Token);
        }
        throw new InvalidOperationException("the job ended before it could be killed");
    }

    /// <summary>Past the first checkpoint, not at an epoch boundary, well before the end.</summary>
    private static bool MidEpoch(TrainingJob job)
    {
        var stepsPerEpoch = job.TotalSteps / Math.Max(1, job.Epochs);
        return job.State == TrainingJob.Types.State.Training && job.Step >= 3 && stepsPerEpoch > 0 && job.Step % stepsPerEpoch != 0
            && job.Step < job.TotalSteps - stepsPerEpoch;
    }

    private sealed record Outcome(TrainingJob Job, Dictionary<int, double> Losses);

    private static async Task<Outcome> WatchToEndAsync(TrainingService.TrainingServiceClient training, string jobId)
    {
        using var call = training.WatchTraining(new WatchTrainingRequest { JobId = jobId });
        return await CollectAsync(call.ResponseStream, training, jobId);
    }

    private static async Task<Outcome> RunToEndAsync(TrainingService.TrainingServiceClient training, string jobId)
    {
        var request = new StartTrainingRequest { JobId = jobId, Publish = false };
        request.Options.Add(SmallJob);
        using var call = training.StartTraining(request);
        return await CollectAsync(call.ResponseStream, training, jobId);
    }

    private static async Task<Outcome> CollectAsync(IAsyncStreamReader<TrainingProgress> stream, TrainingService.TrainingServiceClient training, string jobId)
    {
        TrainingJob? last = null;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await foreach (var update in stream.ReadAllAsync(timeout.Token))
        {
            last = update.Job;
        }
        // Epochs finished before the kill were reported to the first stream; the job record keeps every epoch.
        var jobs = await training.ListTrainingJobsAsync(new ListTrainingJobsRequest());
        var job = jobs.Jobs.Single(j => j.JobId == jobId);
        Assert.NotNull(last);
        return new Outcome(job, job.History.ToDictionary(e => e.Epoch, e => e.Loss));
    }
}
