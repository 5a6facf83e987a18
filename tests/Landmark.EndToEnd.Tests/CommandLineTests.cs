using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Landmark.Testing;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>The <c>landmark</c> command line as a script uses it, run as a process: <c>--json</c> puts one document with
/// the API's field names on stdout, the exit codes are the documented ones, and the thin client (services/cli-remote)
/// works against a running platform.</summary>
public sealed class CommandLineTests
{
    // bin/<Configuration>/net10.0 of this test project: the CLIs were built in the same configuration.
    private static readonly string Configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    private static string Cli(string project) => Path.Combine(TestPaths.RepoRoot, "services", project, "bin", Configuration, "net10.0", "landmark.dll");

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(string project, params string[] args) =>
        RunAsync(project, new Dictionary<string, string>(), args);

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string project, IReadOnlyDictionary<string, string> environment,
        params string[] args)
    {
        using var process = StartCli(project, environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts the CLI of <paramref name="project"/> with its output redirected and none of the caller's
    /// <c>LANDMARK_*</c> server or key variables.</summary>
    private static Process StartCli(string project, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Cli(project));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var variable in new[] { "LANDMARK_SERVER", "LANDMARK_INGEST_SERVER", "LANDMARK_SCORER_SERVER", "LANDMARK_TRAINER_SERVER", "LANDMARK_API_KEY" })
        {
            start.Environment.Remove(variable);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        return Process.Start(start)!;
    }

    private static JsonNode Document((int Exit, string Stdout, string Stderr) run, int exit = 0)
    {
        Assert.True(run.Exit == exit, $"exit {run.Exit} (expected {exit}); stderr: {run.Stderr}; stdout: {run.Stdout}");
        return JsonNode.Parse(run.Stdout)!;
    }

    [Fact]
    public async Task The_thin_client_answers_json_documents_with_the_api_field_names_and_exit_2_for_refused_files()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-cli-json");
        using var files = TestPaths.CreateTempDirectory("landmark-cli-files");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        var server = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{platform.Port}");

        // Every field is present, default values included, under the JSON/HTTP API's names.
        var stats = Document(await RunAsync("cli-remote", "--server", server, "--json", "stats")).AsObject();
        Assert.Equal(["total", "landmarkImages", "nonLandmarkImages", "indexed", "rejected", "pending", "landmarks"], stats.Select(p => p.Key));
        Assert.Equal(0, stats["total"]!.GetValue<int>());

        // A list: the whole list in one document; enums by name, times RFC 3339.
        var models = Document(await RunAsync("cli-remote", "--server", server, "--json", "models"))["models"]!.AsArray();
        var live = Assert.Single(models, m => m!["live"]!.GetValue<bool>())!;
        DateTimeOffset.Parse(live["createTime"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        var jobs = Document(await RunAsync("cli-remote", "--server", server, "--json", "jobs"));
        Assert.Empty(jobs["jobs"]!.AsArray());
        var rollout = Document(await RunAsync("cli-remote", "--server", server, "--json", "models", "rollout"));
        Assert.Contains(rollout["state"]!.GetValue<string>(), new[] { "NONE", "PENDING", "REINDEXING", "LIVE" });

        // The same command without --json prints the human text (the live model starred), not JSON.
        var human = await RunAsync("cli-remote", "--server", server, "models");
        Assert.Equal(0, human.Exit);
        Assert.Contains("* " + live["version"]!.GetValue<string>() + "  ", human.Stdout, StringComparison.Ordinal);

        // A file the platform refuses: exit 2, its error (with the stable reason) in the document, the message on stderr.
        var text = Path.Combine(files.Path, "notes.jpg");
        await File.WriteAllTextAsync(text, "this is not an image, just text\n");
        var refused = await RunAsync("cli-remote", "--server", server, "--json", "recognize", text);
        var result = Assert.Single(Document(refused, exit: 2)["results"]!.AsArray())!;
        Assert.Equal(("notes.jpg", "InvalidArgument"), (result["file"]!.GetValue<string>(), result["error"]!["code"]!.GetValue<string>()));
        Assert.StartsWith("IMAGE_", result["error"]!["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("notes.jpg", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_exit_2_and_the_thin_client_without_a_server_says_it_needs_one()
    {
        Assert.Equal(2, (await RunAsync("cli-remote", "stats", "--no-such-option")).Exit);
        Assert.Equal(2, (await RunAsync("cli", "models", "publish")).Exit);
        var noServer = await RunAsync("cli-remote", "stats");
        Assert.Equal(1, noServer.Exit);
        Assert.Contains("No server", noServer.Stderr, StringComparison.Ordinal);
        Assert.Empty(noServer.Stdout);
    }

    [Fact]
    public async Task The_full_cli_runs_the_platform_in_process_and_answers_json()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-cli-embedded");
        var stats = Document(await RunAsync("cli", "--data", data.Path, "--json", "stats"));
        Assert.Equal(0, stats["total"]!.GetValue<int>());
        Assert.Equal(0, stats["landmarks"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_full_cli_imports_a_dataset_chunk_by_chunk_waits_for_every_image_and_a_second_run_uploads_nothing()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-cli-import");
        using var dataset = TestPaths.CreateTempDirectory("landmark-cli-dataset");
        // 70 landmark photos (more than one chunk of hashes), 3 non-landmark photos, and one truncated JPEG that the
        // pipeline rejects after the upload.
        var train = new List<string> { "id,landmark_id" };
        for (var i = 0; i < 71; i++)
        {
            var id = $"{i:x2}a0f{i:x4}";
            var bytes = TestImages.Jpeg(96, 64, i % 2 == 0 ? SkiaSharp.SKColors.Beige : SkiaSharp.SKColors.SteelBlue, seed: i);
            WriteImage(dataset.Path, "train", id, i == 70 ? bytes[..(bytes.Length / 2)] : bytes);
            train.Add($"{id},{1 + (i % 2)}");
        }
        var nonLandmarks = new List<string> { "id" };
        for (var i = 0; i < 3; i++)
        {
            var id = $"{i:x2}b1e{i:x4}";
            WriteImage(dataset.Path, "nonlandmark", id, TestImages.Jpeg(64, 96, SkiaSharp.SKColors.OliveDrab, seed: 1000 + i));
            nonLandmarks.Add(id);
        }
        File.WriteAllLines(Path.Combine(dataset.Path, "train.csv"), train);
        File.WriteAllLines(Path.Combine(dataset.Path, "nonlandmark.csv"), nonLandmarks);
        File.WriteAllLines(Path.Combine(dataset.Path, "landmarks.csv"), ["landmark_id,name", "1,Tower", "2,Bridge"]);
        var baseline = new Dictionary<string, string> { ["Landmark__Embedder__DefaultModel"] = "baseline" };

        var first = Document(await RunAsync("cli", baseline, "--data", data.Path, "--json", "import", "--dataset", dataset.Path));
        Assert.Equal(74, first["images"]!.GetValue<int>());
        Assert.Equal(74, first["uploaded"]!.GetValue<int>());
        Assert.Equal(0, first["alreadyKnown"]!.GetValue<int>());
        Assert.Equal(73, first["indexed"]!.GetValue<int>());
        Assert.Equal(1, first["rejected"]!.GetValue<int>());
        Assert.Equal(0, first["failed"]!.GetValue<int>());

        var second = Document(await RunAsync("cli", baseline, "--data", data.Path, "--json", "import", "--dataset", dataset.Path));
        Assert.Equal(0, second["uploaded"]!.GetValue<int>());
        Assert.Equal(74, second["alreadyKnown"]!.GetValue<int>());
        Assert.Equal(73, second["indexed"]!.GetValue<int>());
        Assert.Equal(1, second["rejected"]!.GetValue<int>());

        var stats = Document(await RunAsync("cli", baseline, "--data", data.Path, "--json", "stats"));
        Assert.Equal(74, stats["total"]!.GetValue<int>());
        Assert.Equal(2, stats["landmarks"]!.GetValue<int>());
    }

    [Fact]
    public async Task Sigterm_during_an_import_ends_with_exit_143_and_one_line_not_an_unhandled_exception()
    {
        using var dataset = TestPaths.CreateTempDirectory("landmark-cli-sigterm");
        var train = new List<string> { "id,landmark_id" };
        for (var i = 0; i < 4; i++)
        {
            var id = $"{i:x2}c2d{i:x4}";
            WriteImage(dataset.Path, "train", id, TestImages.Jpeg(64, 64, SkiaSharp.SKColors.Beige, seed: i));
            train.Add($"{id},1");
        }
        File.WriteAllLines(Path.Combine(dataset.Path, "train.csv"), train);

        // A "server" that takes the connection and never answers: the import's first call is in flight when the signal
        // comes, and the command stops at once (before, its cancellation escaped System.CommandLine's signal handler).
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        using var process = StartCli("cli-remote", new Dictionary<string, string>(), "--server", $"127.0.0.1:{port}", "import", "--dataset", dataset.Path,
            "--no-non-landmarks");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            using var connection = await listener.AcceptSocketAsync(timeout.Token);
            var request = new byte[1024];
            Assert.True(await connection.ReceiveAsync(request, timeout.Token) > 0); // the client's HTTP/2 preface: the call is on its way
            await Task.Delay(300, timeout.Token);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(timeout.Token);
            }
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        var (exit, output, errors) = (process.ExitCode, await stdout, await stderr);
        Assert.True(exit == 143, $"exit {exit}; stderr: {errors}; stdout: {output}");
        Assert.Contains("interrupted (SIGTERM)", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
    }

    private static void WriteImage(string root, string split, string id, byte[] bytes)
    {
        var path = Path.Combine(root, "images", split, id[..1], id[1..2], id[2..3], id + ".jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
