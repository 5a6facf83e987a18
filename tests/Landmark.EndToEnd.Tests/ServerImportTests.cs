using System.Diagnostics;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Testing;
using SkiaSharp;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>The server-side <c>ImportDataset</c> through the gRPC API: confined to <c>Landmark:Ingest:ImportRoots</c>,
/// answers that carry no server path and no file content.</summary>
public sealed class ServerImportTests : IAsyncLifetime
{
    private const int MaxFileBytes = 200_000;
    private const string SecretText = "SECRET-CONTENT of a server file";
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-server-import");
    private readonly TempDirectory _files = TestPaths.CreateTempDirectory("landmark-server-import-files");
    private string _root = null!;
    private string _outside = null!;
    private EmbeddedPlatform _platform = null!;

    public async Task InitializeAsync()
    {
        _root = Directory.CreateDirectory(Path.Combine(_files.Path, "imports")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_files.Path, "private")).FullName;
        File.WriteAllBytes(Path.Combine(_outside, "photo.jpg"), TestImages.Jpeg(160, 120, SKColors.Maroon, 3));
        File.WriteAllText(Path.Combine(_outside, "notes.jpg"), SecretText);
        _platform = await EmbeddedPlatform.StartAsync(_data.Path,
            $"--Landmark:Ingest:ImportRoots:0={_root}", $"--Landmark:Ingest:MaxImportFileBytes={MaxFileBytes}");
    }

    public async Task DisposeAsync()
    {
        await _platform.DisposeAsync();
        _data.Dispose();
        _files.Dispose();
    }

    private async Task<List<ImportProgress>> ImportAsync(string path)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var call = _platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = path }, cancellationToken: timeout.Token);
        var updates = new List<ImportProgress>();
        await foreach (var p in call.ResponseStream.ReadAllAsync(timeout.Token))
        {
            updates.Add(p);
        }
        return updates;
    }

    private async Task<RpcException> RefusedAsync(string path)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(path));
        AssertNoServerDetails(error.Status.Detail);
        return error;
    }

    private void AssertNoServerDetails(string text)
    {
        Assert.DoesNotContain(_files.Path, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Path.GetTempPath(), text, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString("SECRET"u8), text, StringComparison.OrdinalIgnoreCase);
    }

    private static void MakeFifo(string path)
    {
        using var process = Process.Start("mkfifo", [path]);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task Directories_outside_the_roots_are_refused_without_saying_whether_they_exist()
    {
        var outside = await RefusedAsync(_outside);
        Assert.Equal(StatusCode.InvalidArgument, outside.StatusCode);
        var missing = await RefusedAsync(Path.Combine(_outside, "missing"));
        Assert.Equal(outside.Status.Detail, missing.Status.Detail);
        Assert.Equal(outside.Status.Detail, (await RefusedAsync("/etc")).Status.Detail);
    }

    [Fact]
    public async Task Dot_dot_traversal_out_of_a_root_is_refused()
    {
        Assert.Equal(StatusCode.InvalidArgument, (await RefusedAsync(Path.Combine(_root, "..", "private"))).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await RefusedAsync("../private")).StatusCode);
    }

    [Fact]
    public async Task A_symbolic_link_to_a_directory_outside_the_roots_is_refused()
    {
        var link = Path.Combine(_root, "linked");
        Directory.CreateSymbolicLink(link, _outside);
        Assert.Equal(StatusCode.InvalidArgument, (await RefusedAsync(link)).StatusCode);
    }

    [Fact]
    public async Task A_csv_linking_out_of_the_roots_refuses_the_whole_import()
    {
        var dataset = Directory.CreateDirectory(Path.Combine(_root, "gldv2")).FullName;
        File.CreateSymbolicLink(Path.Combine(dataset, "train.csv"), Path.Combine(_outside, "notes.jpg"));
        var error = await RefusedAsync(dataset);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("outside the server's import roots", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fifo_posing_as_a_csv_refuses_the_import_instead_of_hanging_it()
    {
        var dataset = Directory.CreateDirectory(Path.Combine(_root, "fifo-csv")).FullName;
        MakeFifo(Path.Combine(dataset, "train.csv"));
        var error = await RefusedAsync(dataset);
        Assert.Contains("not a regular file", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_that_break_a_rule_are_reported_by_relative_path_and_the_rest_is_imported()
    {
        var dataset = Path.Combine(_root, "mixed");
        var tower = Directory.CreateDirectory(Path.Combine(dataset, "tower")).FullName;
        File.WriteAllBytes(Path.Combine(tower, "good.jpg"), TestImages.Jpeg(160, 120, SKColors.Navy, 1));
        File.CreateSymbolicLink(Path.Combine(tower, "escape.jpg"), Path.Combine(_outside, "photo.jpg"));
        File.WriteAllText(Path.Combine(tower, "text.jpg"), SecretText);
        MakeFifo(Path.Combine(tower, "pipe.jpg"));
        // A real photo padded past the limit: the size alone must refuse it, before any byte is read.
        File.WriteAllBytes(Path.Combine(tower, "big.jpg"), [.. TestImages.Jpeg(160, 120, SKColors.Navy, 2), .. new byte[MaxFileBytes]]);

        var updates = await ImportAsync(dataset);

        var last = updates[^1];
        Assert.True(last.Done);
        Assert.Equal(1, last.Indexed);
        var errors = updates.SelectMany(u => u.Errors).ToDictionary(e => e.Path, e => e.Reason);
        Assert.Contains("outside the server's import roots", errors["tower/escape.jpg"], StringComparison.Ordinal);
        Assert.StartsWith("unsupported_format:", errors["tower/text.jpg"], StringComparison.Ordinal);
        Assert.Contains("not a regular file", errors["tower/pipe.jpg"], StringComparison.Ordinal);
        Assert.Contains($"more than the limit of {MaxFileBytes}", errors["tower/big.jpg"], StringComparison.Ordinal);
        Assert.Equal(4, errors.Count);
        foreach (var (path, reason) in errors)
        {
            AssertNoServerDetails(path);
            AssertNoServerDetails(reason);
        }
    }

    [Fact]
    public async Task Missing_images_of_a_gldv2_dataset_are_named_relative_to_the_dataset()
    {
        var dataset = Directory.CreateDirectory(Path.Combine(_root, "gldv2-missing")).FullName;
        File.WriteAllText(Path.Combine(dataset, "train.csv"), "id,landmark_id\nabc123,1\n");
        var updates = await ImportAsync(dataset);
        var error = Assert.Single(updates.SelectMany(u => u.Errors));
        Assert.Equal("image file 'images/train/a/b/c/abc123.jpg' is missing", error.Reason);
        AssertNoServerDetails(error.Path + error.Reason);
    }

    [Fact]
    public async Task Import_is_off_without_import_roots()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-no-roots");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        using var call = platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = _root });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("Landmark:Ingest:ImportRoots", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_root_that_does_not_exist_stops_start_up()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-bad-root");
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            EmbeddedPlatform.StartAsync(data.Path, $"--Landmark:Ingest:ImportRoots:0={Path.Combine(_files.Path, "nope")}"));
        Assert.Contains("Landmark:Ingest:ImportRoots:0", error.Message, StringComparison.Ordinal);
    }
}
