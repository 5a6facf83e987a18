using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Cli;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Reporting;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var serverOption = new Option<string?>("--server", "-s")
{
    Description = $"Address of a running platform (e.g. localhost:8080). Default: ${LandmarkConnection.ServerVariable}, else an embedded platform in this process.",
    Recursive = true,
};
var dataOption = new Option<string>("--data")
{
    Description = "Data directory of the embedded platform (ignored with --server).",
    DefaultValueFactory = _ => "data",
    Recursive = true,
};
var jsonOption = new Option<bool>("--json")
{
    Description = "Print the result as one JSON document on stdout (field names as the JSON/HTTP API: lowerCamelCase, every field present); progress and notes go to stderr.",
    Recursive = true,
};
var datasetOption = new Option<string>("--dataset", "-d")
{
    Description = "Dataset directory: GLDv2 layout (train.csv, <split>.csv, nonlandmark.csv, landmarks.csv, images/) or one folder per landmark.",
    Required = true,
};
var noDistractorsOption = new Option<bool>("--no-non-landmarks") { Description = "Do not import the non-landmark distractor gallery." };
var topKOption = new Option<int>("--top-k", "-k") { Description = "Similar gallery images to show.", DefaultValueFactory = _ => 5 };
var filesArgument = new Argument<FileInfo[]>("files") { Description = "Image files.", Arity = ArgumentArity.OneOrMore };
var reportOption = new Option<DirectoryInfo?>("--report")
{
    Description = "Also write an HTML report (index.html: GAP, per-landmark AP, precision-vs-confidence curve, confusions, misses and false alarms with thumbnails, model and scorer settings) and report.json into this directory.",
};
var splitOption = new Option<string>("--split") { Description = "Query split to evaluate (<split>.csv).", DefaultValueFactory = _ => "val" };

var root = new RootCommand("landmark — which landmark does a photo show? Import galleries, recognize photos, evaluate GAP.");
root.Options.Add(serverOption);
root.Options.Add(dataOption);
root.Options.Add(jsonOption);

var import = new Command("import", "Import a dataset into the gallery and wait until every image is indexed or rejected.");
import.Options.Add(datasetOption);
import.Options.Add(noDistractorsOption);
import.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var dataset = DatasetReader.Read(parse.GetRequiredValue(datasetOption));
    var summary = await new DatasetImporter(connection, output.Progress).ImportAsync(dataset, !parse.GetValue(noDistractorsOption), ct);
    output.Result(CliOutput.OfRecord(summary));
    return summary.Failed > 0 ? 2 : 0;
});

var recognize = new Command("recognize", "Recognize photos: landmark, name, confidence and the most similar gallery images.");
recognize.Arguments.Add(filesArgument);
recognize.Options.Add(topKOption);
recognize.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var exit = 0;
    var results = new JsonArray();
    foreach (var file in parse.GetRequiredValue(filesArgument))
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(file.FullName, ct);
            var answer = await connection.Recognition.RecognizeAsync(
                new RecognizeRequest { Image = ByteString.CopyFrom(bytes), TopK = parse.GetValue(topKOption), RequestId = file.Name }, cancellationToken: ct);
            results.Add(new JsonObject { ["file"] = file.Name, ["answer"] = CliOutput.Of(answer) });
            output.Line(answer.IsLandmark
                ? $"{file.Name}: landmark {answer.LandmarkId} \"{answer.LandmarkName}\" confidence {answer.Confidence:F3}"
                : $"{file.Name}: not a known landmark (best guess {answer.LandmarkId} \"{answer.LandmarkName}\", confidence {answer.Confidence:F3})");
            foreach (var n in answer.Neighbours)
            {
                output.Line($"    {n.Similarity:F3}  {n.LandmarkId,-8} {Trim(n.LandmarkName, 40),-40} {n.FileName} {n.ExternalId}");
            }
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
        {
            Console.Error.WriteLine($"{file.Name}: {ex.Status.Detail}");
            results.Add(new JsonObject { ["file"] = file.Name, ["error"] = CliOutput.Error(ex) });
            exit = 2;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"{file.Name}: {ex.Message}");
            results.Add(new JsonObject { ["file"] = file.Name, ["error"] = new JsonObject { ["code"] = "IOError", ["message"] = ex.Message, ["reason"] = "" } });
            exit = 2;
        }
    }
    output.Result(new JsonObject { ["results"] = results });
    return exit;
});

var similar = new Command("similar", "The most similar gallery images to a photo (landmark and non-landmark).");
similar.Arguments.Add(filesArgument);
similar.Options.Add(topKOption);
similar.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var results = new JsonArray();
    foreach (var file in parse.GetRequiredValue(filesArgument))
    {
        var bytes = await File.ReadAllBytesAsync(file.FullName, ct);
        var answer = await connection.Recognition.FindSimilarAsync(
            new FindSimilarRequest { Image = ByteString.CopyFrom(bytes), TopK = parse.GetValue(topKOption), IncludeNonLandmarks = true }, cancellationToken: ct);
        results.Add(new JsonObject { ["file"] = file.Name, ["answer"] = CliOutput.Of(answer) });
        output.Line($"{file.Name}:");
        foreach (var n in answer.Neighbours)
        {
            output.Line($"    {n.Similarity:F3}  {(n.Role == ImageRole.Landmark ? n.LandmarkId : "(non-landmark)"),-14} {Trim(n.LandmarkName, 40),-40} {n.FileName}");
        }
    }
    output.Result(new JsonObject { ["results"] = results });
    return 0;
});

var evaluate = new Command("evaluate", "Import the dataset's gallery if needed, recognize every image of a split, print GAP and accuracy.");
evaluate.Options.Add(datasetOption);
evaluate.Options.Add(splitOption);
evaluate.Options.Add(noDistractorsOption);
evaluate.Options.Add(reportOption);
evaluate.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var dataset = DatasetReader.Read(parse.GetRequiredValue(datasetOption));
    var split = parse.GetRequiredValue(splitOption);
    var (queries, problems) = dataset.ReadSplit(split);
    await new DatasetImporter(connection, output.Progress).ImportAsync(dataset, !parse.GetValue(noDistractorsOption), ct);
    foreach (var p in problems)
    {
        output.Progress.WriteLine($"  skipped {p.Where}: {p.Reason}");
    }
    output.Progress.WriteLine($"Evaluating {queries.Count} queries of split '{split}' ({queries.Count(q => q.LandmarkId is not null)} landmark, {queries.Count(q => q.LandmarkId is null)} non-landmark)");

    var run = await EvaluationRunner.RunAsync(connection.Evaluation, queries, output.Progress, ct);
    if (run is null)
    {
        Console.Error.WriteLine("The server ended the evaluation without a result.");
        return 1;
    }
    var result = run.Result;
    var document = new JsonObject { ["result"] = CliOutput.Of(result), ["report"] = null };
    output.Line($"{result.Correct}/{result.LandmarkQueries} landmark queries right, {result.Errors} unusable queries, {result.QueriesPerSecond:F1} queries/s");
    output.Line($"GAP={result.Gap:F4} accuracy={result.Accuracy:F4} queries={result.Queries}");
    if (parse.GetValue(reportOption) is { } reportDirectory)
    {
        ModelInfo? live = null;
        try
        {
            live = await connection.Models.GetLiveModelAsync(new GetLiveModelRequest(), cancellationToken: ct);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition or StatusCode.Unimplemented or StatusCode.PermissionDenied)
        {
            output.Progress.WriteLine($"  (the report leaves the model out: {ex.Status.Detail})");
        }
        var report = EvaluationReportBuilder.Build(dataset, split, run, live);
        var thumbnails = new Thumbnails();
        var html = HtmlReport.Write(reportDirectory.FullName, report, dataset, thumbnails);
        output.Line($"report: {html} ({new FileInfo(html).Length / 1e6:F1} MB, {thumbnails.Count} thumbnails) and {Path.Combine(reportDirectory.FullName, HtmlReport.JsonFileName)}");
        document["report"] = html;
    }
    output.Result(document);
    return 0;
});

#if EMBEDDED_PLATFORM
// 300 sequential calls, about 8 s: a p50 over 50 calls (1.4 s) moved with any second the VM ran slow, and a p99 of 50
// samples is one call.
var samplesOption = new Option<int>("--samples") { Description = "Sequential recognize calls timed for latency (concurrency 1).", DefaultValueFactory = _ => 300 };
var bench = new Command("benchmark", "Measure import images/s, recognition latency and streaming throughput (use a fresh --data directory to include the import).");
bench.Options.Add(datasetOption);
bench.Options.Add(splitOption);
bench.Options.Add(samplesOption);
var floodOption = new Option<int>("--flood-seconds") { Description = "After the figures, flood Recognize at four times the measured rate for this many seconds (0 = no flood) and print what was accepted, refused, p99 and memory.", DefaultValueFactory = _ => 0 };
bench.Options.Add(floodOption);
bench.SetAction(async (parse, ct) =>
{
    if (parse.GetValue(jsonOption))
    {
        Console.Error.WriteLine("benchmark prints a Markdown table for people; --json is not supported here");
        return 2;
    }
    await using var connection = await Open(parse, ct);
    var dataset = DatasetReader.Read(parse.GetRequiredValue(datasetOption));
    await new Benchmark(connection, Console.Out).RunAsync(dataset, parse.GetRequiredValue(splitOption), parse.GetValue(samplesOption), ct, parse.GetValue(floodOption));
    return 0;
});
#endif

var stats = new Command("stats", "Gallery counts and the live model.");
stats.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var s = await connection.Ingest.GetStatsAsync(new GetStatsRequest(), cancellationToken: ct);
    output.Result(s);
    output.Line($"images {s.Total} (landmark {s.LandmarkImages}, non-landmark {s.NonLandmarkImages}); indexed {s.Indexed}, rejected {s.Rejected}, pending {s.Pending}; landmarks {s.Landmarks}");
    return 0;
});

var models = new Command("models", "Models in the registry with their metrics; the live one is marked with *. Subcommands roll a model out or back.");
models.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var all = await ListModelsAsync(connection, ct);
    output.Result(new ListModelsResponse { Models = { all } });
    foreach (var m in all)
    {
        var metrics = string.Join(" ", m.Metrics.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key}={x.Value:0.####}"));
        output.Line($"{(m.Live ? '*' : ' ')} {m.Version}  {ApiText.Of(m.Kind)}  {m.Dimension}-d  input {m.InputSize}px  {ApiText.Of(m.CreateTime)}  {metrics}{(metrics.Length > 0 ? "  " : "")}{m.Description}");
        if (m.Mean.Count == 3)
        {
            output.Line($"    pixels: mean {string.Join(",", m.Mean)} std {string.Join(",", m.Std)}");
        }
        if (m.ScorerSettings.Count > 0)
        {
            output.Line("    scorer settings: " + string.Join(" ", m.ScorerSettings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:0.###}")));
        }
    }
    return 0;
});

var trainDatasetOption = new Option<string?>("--dataset", "-d") { Description = "Import this dataset's gallery first (if needed), then train on the platform's gallery." };
var epochsOption = new Option<int?>("--epochs") { Description = "Epochs (default: Landmark:Training:Epochs)." };
var imageSizeOption = new Option<int?>("--image-size") { Description = "Final training and model input size in pixels." };
var setOption = new Option<string[]>("--set")
{
    Description = "Any training option as KEY=VALUE (configuration path, e.g. Head=ArcFace, Backbone:Family=MobileNet, Backbone:Widths:0=32, ImageSizeStages:0=96, LearningRate=0.003).",
    AllowMultipleArgumentsPerToken = false,
};
var noPublishOption = new Option<bool>("--no-publish") { Description = "Register the trained model without rolling it out." };
var forceOption = new Option<bool>("--force") { Description = "Roll the model out even when it scores below the live model on the job's held-out set (the publish gate)." };
var jobOption = new Option<string?>("--job") { Description = "Job id (starting an existing id watches that job)." };
var train = new Command("train", "Train an embedding model on the gallery (metric learning), export it to ONNX, register it and roll it out live.");
train.Options.Add(trainDatasetOption);
train.Options.Add(epochsOption);
train.Options.Add(imageSizeOption);
train.Options.Add(setOption);
train.Options.Add(noPublishOption);
train.Options.Add(forceOption);
train.Options.Add(jobOption);
train.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    if (parse.GetValue(trainDatasetOption) is { } datasetDir)
    {
        var dataset = DatasetReader.Read(datasetDir);
        await new DatasetImporter(connection, output.Progress).ImportAsync(dataset, includeNonLandmarks: true, ct);
    }
    var request = new StartTrainingRequest
    {
        Publish = !parse.GetValue(noPublishOption),
        ForcePublish = parse.GetValue(forceOption),
        JobId = parse.GetValue(jobOption) ?? "",
    };
    if (parse.GetValue(epochsOption) is { } epochs)
    {
        request.Options["Epochs"] = epochs.ToString(CultureInfo.InvariantCulture);
    }
    if (parse.GetValue(imageSizeOption) is { } size)
    {
        request.Options["ImageSize"] = size.ToString(CultureInfo.InvariantCulture);
    }
    foreach (var pair in parse.GetValue(setOption) ?? [])
    {
        var eq = pair.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            Console.Error.WriteLine($"--set {pair}: expected KEY=VALUE");
            return 2;
        }
        request.Options[pair[..eq]] = pair[(eq + 1)..];
    }
    var progress = ProgressView(output);
    TrainingJob? last = null;
    using (var call = connection.Training.StartTraining(request, cancellationToken: ct))
    {
        await foreach (var update in call.ResponseStream.ReadAllAsync(ct))
        {
            progress.Show(update);
            last = update.Job;
        }
    }
    progress.Finish();
    var trained = new JsonObject { ["job"] = last is null ? null : CliOutput.Of(last), ["rollout"] = null };
    if (last is null || last.State != TrainingJob.Types.State.Completed)
    {
        output.Result(trained);
        Console.Error.WriteLine($"training {(last is null ? "ended without a result" : ApiText.Of(last.State))}{(last is { Error.Length: > 0 } ? ": " + last.Error : "")}");
        return 1;
    }
    var metrics = string.Join(", ", last.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{m.Key}={m.Value:0.####}"));
    output.Line($"model {last.ModelVersion} registered ({metrics})");
    if (last.NonFiniteSteps > 0)
    {
        output.Line($"{last.NonFiniteSteps} training step(s) were skipped because their loss or gradient was not finite");
    }
    if (last.PublishDecision.Length > 0)
    {
        output.Line(last.PublishDecision);
    }
    if (ExitCodes.OfPublishOutcome(last.PublishOutcome) is { } settled)
    {
        output.Result(trained);
        return settled;
    }
    if (request.Publish)
    {
        output.Progress.WriteLine("rolling out: re-embedding the gallery with the new model while the live one keeps answering ...");
        var status = await connection.Models.GetRolloutAsync(new GetRolloutRequest(), cancellationToken: ct);
        if (status.Version != last.ModelVersion)
        {
            trained["rollout"] = CliOutput.Of(status);
            output.Result(trained);
            Console.Error.WriteLine($"the roll-out of {last.ModelVersion} was not started ({Describe(status)})");
            return 1;
        }
        var (exit, final) = await FollowRollout(connection, output, status, wait: true, ct);
        trained["rollout"] = CliOutput.Of(final);
        output.Result(trained);
        return exit;
    }
    output.Result(trained);
    return 0;
});

var jobs = new Command("jobs", "Training jobs: state, progress, resumes and the model each produced.");
jobs.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var all = await ListJobsAsync(connection, ct);
    output.Result(new ListTrainingJobsResponse { Jobs = { all } });
    foreach (var j in all)
    {
        output.Line($"{j.JobId}  {ApiText.Of(j.State),-10} epoch {j.Epoch}/{j.Epochs} step {j.Step}/{j.TotalSteps}  resumes {j.Resumes}  {j.ModelVersion}  " +
            string.Join(" ", j.Metrics.Where(m => m.Key.StartsWith("val_", StringComparison.Ordinal)).Select(m => $"{m.Key}={m.Value:0.####}")) +
            (j.Error.Length > 0 ? $"  error: {j.Error}" : ""));
    }
    return 0;
});

var versionArgument = new Argument<string>("version") { Description = "Registered model version (see `landmark models`)." };
var rollbackVersionArgument = new Argument<string?>("version")
{
    Description = "Version to return to. Default: the model live before the current one (or, during a roll-out, the live one: cancels it).",
    Arity = ArgumentArity.ZeroOrOne,
};
var waitOption = new Option<bool>("--wait", "-w")
{
    Description = "Wait until the roll-out is live, printing progress (always on for an embedded platform, whose messages end with the process).",
};

var publish = new Command("publish", "Roll a registered model out: the gallery is re-embedded in the background while recognition keeps " +
    "answering with the live model, then the live model and the index switch together.");
publish.Arguments.Add(versionArgument);
publish.Options.Add(waitOption);
publish.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var status = await connection.Models.PublishModelAsync(new PublishModelRequest { Version = parse.GetRequiredValue(versionArgument) }, cancellationToken: ct);
    var (exit, final) = await FollowRollout(connection, output, status, parse.GetValue(waitOption), ct);
    output.Result(final);
    return exit;
});

var rollback = new Command("rollback", "Return to the previously live model (or VERSION) through the same roll-out, so its index gets the images added since.");
rollback.Arguments.Add(rollbackVersionArgument);
rollback.Options.Add(waitOption);
rollback.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var status = await connection.Models.RollbackModelAsync(new RollbackModelRequest { Version = parse.GetValue(rollbackVersionArgument) ?? "" }, cancellationToken: ct);
    var (exit, final) = await FollowRollout(connection, output, status, parse.GetValue(waitOption), ct);
    output.Result(final);
    return exit;
});

var rollout = new Command("rollout", "The roll-out in progress, or the last one.");
rollout.Options.Add(waitOption);
rollout.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var status = await connection.Models.GetRolloutAsync(new GetRolloutRequest(), cancellationToken: ct);
    var (exit, final) = await FollowRollout(connection, output, status,
        parse.GetValue(waitOption) && status.State is RolloutStatus.Types.State.Pending or RolloutStatus.Types.State.Reindexing, ct);
    output.Result(final);
    return exit;
});

var modelFileArgument = new Argument<FileInfo>("file") { Description = "The .onnx file: one float image input [N|1,3,H,W], one output [N,D] or [N,D,1,1]." };
var importInputSizeOption = new Option<int?>("--input-size") { Description = "Square input side in pixels (needed when the model's height and width are dynamic)." };
var meanOption = new Option<string?>("--mean") { Description = "Per-channel mean subtracted from RGB pixels in [0, 1], as r,g,b (e.g. 0.485,0.456,0.406)." };
var stdOption = new Option<string?>("--std") { Description = "Per-channel standard deviation divided after the mean, as r,g,b (e.g. 0.229,0.224,0.225)." };
var modelNameOption = new Option<string?>("--name") { Description = "Name in the model's version (default: the file name)." };
var descriptionOption = new Option<string?>("--description") { Description = "Description shown by `landmark models`." };
var importModel = new Command("import", "Import an ONNX embedding model: the platform checks it (loads in ONNX Runtime, one image input, " +
    "an [N,D] or [N,D,1,1] output, finite output on a probe batch, a variable batch) and registers it with kind 'imported'; " +
    "`landmark models publish VERSION` rolls it out.");
importModel.Arguments.Add(modelFileArgument);
importModel.Options.Add(importInputSizeOption);
importModel.Options.Add(meanOption);
importModel.Options.Add(stdOption);
importModel.Options.Add(modelNameOption);
importModel.Options.Add(descriptionOption);
importModel.SetAction(async (parse, ct) =>
{
    var file = parse.GetRequiredValue(modelFileArgument);
    if (!file.Exists)
    {
        Console.Error.WriteLine($"{file.FullName}: no such file");
        return 2;
    }
    var header = new ImportModelHeader
    {
        Name = parse.GetValue(modelNameOption) ?? Path.GetFileNameWithoutExtension(file.Name),
        InputSize = parse.GetValue(importInputSizeOption) ?? 0,
        Description = parse.GetValue(descriptionOption) ?? "",
    };
    foreach (var (option, target) in new[] { (meanOption, header.Mean), (stdOption, header.Std) })
    {
        if (parse.GetValue(option) is not { } text)
        {
            continue;
        }
        var values = text.Split(',', StringSplitOptions.TrimEntries);
        var parsed = values.Select(v => float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : (float?)null).ToArray();
        if (values.Length != 3 || parsed.Any(v => v is null))
        {
            Console.Error.WriteLine($"{option.Name} {text}: expected three numbers r,g,b");
            return 2;
        }
        target.AddRange(parsed.Select(v => v!.Value));
    }

    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    output.Progress.WriteLine($"uploading {file.Name} ({file.Length / 1e6:F1} MB) to {connection.Description} ...");
    using var call = connection.Models.ImportModel(cancellationToken: ct);
    try
    {
        await call.RequestStream.WriteAsync(new ImportModelRequest { Header = header }, ct);
        await using var stream = file.OpenRead();
        var buffer = new byte[1 << 20];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            await call.RequestStream.WriteAsync(new ImportModelRequest { Chunk = ByteString.CopyFrom(buffer, 0, read) }, ct);
        }
        await call.RequestStream.CompleteAsync();
    }
    catch (Exception ex) when (ex is RpcException or InvalidOperationException)
    {
        // The server ended the call early (a refusal): its status is in the response.
    }
    ImportModelResponse response;
    try
    {
        response = await call.ResponseAsync;
    }
    catch (RpcException ex) when (ex.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted)
    {
        Console.Error.WriteLine($"refused: {ex.Status.Detail}");
        return 2;
    }
    output.Result(response);
    output.Line("checks:");
    foreach (var check in response.Checks)
    {
        output.Line($"  {check}");
    }
    var m = response.Model;
    output.Line($"{(response.AlreadyRegistered ? "already registered" : "registered")}: {m.Version}  {ApiText.Of(m.Kind)}  {m.Dimension}-d  input {m.InputSize}px" +
        (m.Mean.Count == 3 ? $"  mean {string.Join(",", m.Mean)} std {string.Join(",", m.Std)}" : "") + (m.Live ? "  (live)" : ""));
    if (!m.Live)
    {
        output.Line($"roll it out with: landmark models publish {m.Version}");
    }
    return 0;
});

models.Subcommands.Add(publish);
models.Subcommands.Add(rollback);
models.Subcommands.Add(rollout);
models.Subcommands.Add(importModel);

var jobIdArgument = new Argument<string>("job") { Description = "Training job id (see `landmark jobs`)." };
var cancelJob = new Command("cancel", "Cancel a queued or running training job (it keeps its checkpoints).");
cancelJob.Arguments.Add(jobIdArgument);
cancelJob.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var job = await connection.Training.CancelTrainingAsync(new CancelTrainingRequest { JobId = parse.GetRequiredValue(jobIdArgument) }, cancellationToken: ct);
    output.Result(job);
    output.Line($"{job.JobId}: {ApiText.Of(job.State)}");
    return 0;
});
var watchJob = new Command("watch", "Follow a training job's progress until it ends.");
watchJob.Arguments.Add(jobIdArgument);
watchJob.SetAction(async (parse, ct) =>
{
    var output = Output(parse);
    await using var connection = await Open(parse, ct);
    var progress = ProgressView(output);
    TrainingJob? last = null;
    using (var call = connection.Training.WatchTraining(new WatchTrainingRequest { JobId = parse.GetRequiredValue(jobIdArgument) }, cancellationToken: ct))
    {
        await foreach (var update in call.ResponseStream.ReadAllAsync(ct))
        {
            progress.Show(update);
            last = update.Job;
        }
    }
    progress.Finish();
    output.Result(new JsonObject { ["job"] = last is null ? null : CliOutput.Of(last) });
    output.Line($"{last?.JobId}: {(last is null ? "" : ApiText.Of(last.State))} {last?.ModelVersion} {last?.Error}");
    return last?.State == TrainingJob.Types.State.Completed ? 0 : 1;
});
jobs.Subcommands.Add(cancelJob);
jobs.Subcommands.Add(watchJob);

root.Subcommands.Add(import);
root.Subcommands.Add(train);
root.Subcommands.Add(jobs);
root.Subcommands.Add(recognize);
root.Subcommands.Add(similar);
root.Subcommands.Add(evaluate);
#if EMBEDDED_PLATFORM
root.Subcommands.Add(bench);
#endif
root.Subcommands.Add(stats);
root.Subcommands.Add(models);

try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0)
    {
        foreach (var error in parsed.Errors)
        {
            Console.Error.WriteLine(error.Message);
        }
        Console.Error.WriteLine("Run 'landmark --help' for the commands and options.");
        return ExitCodes.Usage;
    }
    Interruption.Install(root);
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
}
catch (Exception ex) when (ex is InvalidOperationException or DirectoryNotFoundException or FileNotFoundException or InvalidDataException or RpcException or IOException or ArgumentException)
{
    Console.Error.WriteLine($"error: {(ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message)}");
    return ExitCodes.Failed;
}

Task<LandmarkConnection> Open(ParseResult parse, CancellationToken ct) =>
    LandmarkConnection.OpenAsync(parse.GetValue(serverOption), parse.GetRequiredValue(dataOption), ct);

CliOutput Output(ParseResult parse) => new(parse.GetValue(jsonOption));

// The progress bar is redrawn in place only on a terminal (stderr's with --json, where stdout holds the document).
static TrainingProgressView ProgressView(CliOutput output) =>
    new(output.Progress, !(output.Json ? Console.IsErrorRedirected : Console.IsOutputRedirected));

// Prints the roll-out; with wait (forced for an embedded platform) follows it until the model is live. Returns the exit
// code and the last status seen.
static async Task<(int Exit, RolloutStatus Status)> FollowRollout(LandmarkConnection connection, CliOutput output, RolloutStatus status, bool wait,
    CancellationToken ct)
{
    output.Progress.WriteLine(Describe(status));
    if (status.State == RolloutStatus.Types.State.None || !(wait || connection.IsEmbedded))
    {
        return (0, status);
    }
    var target = status.Version;
    var last = Describe(status);
    while (!(status.State == RolloutStatus.Types.State.Live && status.Version == target && status.LiveVersion == target))
    {
        await Task.Delay(500, ct);
        status = await connection.Models.GetRolloutAsync(new GetRolloutRequest(), cancellationToken: ct);
        if (status.Version != target)
        {
            output.Progress.WriteLine($"superseded by the roll-out of {status.Version}");
            output.Progress.WriteLine(Describe(status));
            return (ExitCodes.Failed, status);
        }
        var line = Describe(status);
        if (line != last)
        {
            output.Progress.WriteLine(line);
            last = line;
        }
        if (status.State == RolloutStatus.Types.State.Failed)
        {
            return (ExitCodes.Failed, status);
        }
    }
    return (0, status);
}

static string Describe(RolloutStatus s) => s.State == RolloutStatus.Types.State.None
    ? $"no roll-out yet; live model {(s.LiveVersion.Length > 0 ? s.LiveVersion : "none")}"
    : $"roll-out of {s.Version}: {ApiText.Of(s.State)}, {s.ImagesDone}/{s.ImagesTotal} gallery images" +
      (s.ImagesSkipped > 0 ? $" ({s.ImagesSkipped} skipped)" : "") +
      $"; live {s.LiveVersion}" + (s.PreviousVersion.Length > 0 && s.PreviousVersion != s.LiveVersion ? $", previously {s.PreviousVersion}" : "") +
      $"; started {ApiText.Of(s.StartTime)}" + (s.EndTime is not null ? $", finished {ApiText.Of(s.EndTime)}" : "");

// Every model of the registry, page after page (oldest first).
static Task<List<ModelInfo>> ListModelsAsync(LandmarkConnection connection, CancellationToken ct) =>
    ReadAllPagesAsync<ModelInfo>(async token =>
    {
        var page = await connection.Models.ListModelsAsync(new ListModelsRequest { PageSize = Paging.MaxPageSize, PageToken = token }, cancellationToken: ct);
        return (page.Models, page.NextPageToken);
    });

// Every training job, page after page (oldest first).
static Task<List<TrainingJob>> ListJobsAsync(LandmarkConnection connection, CancellationToken ct) =>
    ReadAllPagesAsync<TrainingJob>(async token =>
    {
        var page = await connection.Training.ListTrainingJobsAsync(new ListTrainingJobsRequest { PageSize = Paging.MaxPageSize, PageToken = token }, cancellationToken: ct);
        return (page.Jobs, page.NextPageToken);
    });

// Follows next_page_token from the first page to the last.
static async Task<List<T>> ReadAllPagesAsync<T>(Func<string, Task<(IEnumerable<T> Items, string NextPageToken)>> readPage)
{
    var all = new List<T>();
    var token = "";
    do
    {
        (var items, token) = await readPage(token);
        all.AddRange(items);
    }
    while (token.Length > 0);
    return all;
}

static string Trim(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
