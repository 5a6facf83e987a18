using System.Diagnostics;
using Landmark.Ingest;
using Landmark.Testing;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>Confinement of the server-side import to <c>Landmark:Ingest:ImportRoots</c>, on a real file system.</summary>
public sealed class ImportRootsTests : IDisposable
{
    private const long MaxBytes = 1000;
    private readonly TempDirectory _temp = TestPaths.CreateTempDirectory("landmark-import-roots");
    private readonly string _root;
    private readonly string _outside;
    private readonly ImportRoots _roots;

    public ImportRootsTests()
    {
        _root = Directory.CreateDirectory(Path.Combine(_temp.Path, "root")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_temp.Path, "outside")).FullName;
        Directory.CreateDirectory(Path.Combine(_root, "dataset", "tower"));
        File.WriteAllBytes(Path.Combine(_root, "dataset", "tower", "a.jpg"), new byte[100]);
        File.WriteAllText(Path.Combine(_outside, "secret.jpg"), "top secret");
        _roots = new ImportRoots([_root], MaxBytes);
    }

    public void Dispose() => _temp.Dispose();

    private void AssertRefusedWithoutServerPaths(Action action, string expected)
    {
        var error = Assert.Throws<ImportRefusedException>(action);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_temp.Path, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }

    private static void Run(string command, params string[] args)
    {
        var info = new ProcessStartInfo(command) { RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{command} failed: {process.StandardError.ReadToEnd()}");
    }

    [Fact]
    public void Import_is_off_without_roots()
    {
        var off = new ImportRoots([], MaxBytes);
        Assert.False(off.Enabled);
        var error = Assert.Throws<ImportRefusedException>(() => off.ResolveDirectory(_root));
        Assert.Contains("ImportRoots", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_inside_a_root_resolves_absolute_or_relative()
    {
        var dataset = Path.Combine(_root, "dataset");
        Assert.Equal(dataset, _roots.ResolveDirectory(dataset));
        Assert.Equal(dataset, _roots.ResolveDirectory("dataset"));
        Assert.Equal(dataset, _roots.ResolveDirectory(Path.Combine(_root, "dataset", "tower", "..")));
    }

    [Fact]
    public void A_directory_outside_every_root_is_refused_whether_or_not_it_exists()
    {
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(_outside), "no dataset directory at that path");
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory("/etc"), "no dataset directory at that path");
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(Path.Combine(_outside, "nope")), "no dataset directory at that path");
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(Path.Combine(_root, "nope")), "no dataset directory at that path");
    }

    [Fact]
    public void Dot_dot_traversal_out_of_a_root_is_refused()
    {
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(Path.Combine(_root, "..", "outside")), "no dataset directory");
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory("../outside"), "no dataset directory");
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(_root, "dataset", "..", "..", "outside", "secret.jpg")), "outside the server's import roots");
    }

    [Fact]
    public void A_sibling_whose_name_starts_like_the_root_is_outside_it()
    {
        var sibling = Directory.CreateDirectory(_root + "-evil").FullName;
        File.WriteAllText(Path.Combine(sibling, "x.jpg"), "x");
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(sibling), "no dataset directory");
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(sibling, "x.jpg")), "outside the server's import roots");
    }

    [Fact]
    public async Task A_symbolic_link_to_a_file_outside_the_root_is_refused()
    {
        var link = Path.Combine(_root, "dataset", "tower", "b.jpg");
        File.CreateSymbolicLink(link, Path.Combine(_outside, "secret.jpg"));
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(link), "outside the server's import roots");
        var read = await Assert.ThrowsAsync<ImportRefusedException>(() => _roots.ReadFileAsync(link, CancellationToken.None));
        Assert.DoesNotContain("secret", read.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_symbolic_link_to_a_directory_outside_the_root_is_refused_as_dataset_and_for_its_files()
    {
        var link = Path.Combine(_root, "escape");
        Directory.CreateSymbolicLink(link, _outside);
        AssertRefusedWithoutServerPaths(() => _roots.ResolveDirectory(link), "no dataset directory");
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(link, "secret.jpg")), "outside the server's import roots");
        // A relative link that climbs out through '..' is resolved from the link's own directory.
        var relative = Path.Combine(_root, "dataset", "up");
        Directory.CreateSymbolicLink(relative, Path.Combine("..", "..", "outside"));
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(relative, "secret.jpg")), "outside the server's import roots");
    }

    [Fact]
    public void Symbolic_links_that_stay_inside_the_root_are_followed()
    {
        var link = Path.Combine(_root, "alias");
        Directory.CreateSymbolicLink(link, Path.Combine(_root, "dataset"));
        Assert.Equal(Path.Combine(_root, "dataset"), _roots.ResolveDirectory(link));
        Assert.Equal(Path.Combine(_root, "dataset", "tower", "a.jpg"), _roots.CheckFile(Path.Combine(link, "tower", "a.jpg")));
    }

    [Fact]
    public void A_root_given_through_a_symbolic_link_is_compared_by_its_real_path()
    {
        var linkToRoot = Path.Combine(_temp.Path, "root-link");
        Directory.CreateSymbolicLink(linkToRoot, _root);
        var roots = new ImportRoots([linkToRoot], MaxBytes);
        Assert.Equal(Path.Combine(_root, "dataset"), roots.ResolveDirectory(Path.Combine(linkToRoot, "dataset")));
        Assert.Equal(Path.Combine(_root, "dataset"), roots.ResolveDirectory(Path.Combine(_root, "dataset")));
    }

    [Fact]
    public void Symbolic_link_loops_are_refused()
    {
        var a = Path.Combine(_root, "loop-a");
        var b = Path.Combine(_root, "loop-b");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(a), "symbolic links");
    }

    [Fact]
    public async Task A_fifo_is_refused_without_being_opened()
    {
        var fifo = Path.Combine(_root, "dataset", "tower", "pipe.jpg");
        Run("mkfifo", fifo);
        // Opening a FIFO for reading blocks until a writer comes: the refusal must come from the check, promptly.
        var read = Task.Run(() => _roots.ReadFileAsync(fifo, CancellationToken.None));
        var error = await Assert.ThrowsAsync<ImportRefusedException>(() => read.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("not a regular file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_reached_through_a_link_inside_the_root_is_refused()
    {
        var roots = new ImportRoots([_root, "/dev"], MaxBytes);
        var link = Path.Combine(_root, "dataset", "tower", "zero.jpg");
        File.CreateSymbolicLink(link, "/dev/zero");
        AssertRefusedWithoutServerPaths(() => roots.CheckFile(link), "not a regular file");
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(link), "outside the server's import roots");
    }

    [Fact]
    public void A_directory_given_as_a_file_is_refused()
    {
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(_root, "dataset", "tower")), "a directory, not a file");
    }

    [Fact]
    public async Task An_oversized_file_is_refused_from_its_size_before_reading()
    {
        var big = Path.Combine(_root, "dataset", "tower", "big.jpg");
        File.WriteAllBytes(big, new byte[MaxBytes + 1]);
        var error = await Assert.ThrowsAsync<ImportRefusedException>(() => _roots.ReadFileAsync(big, CancellationToken.None));
        Assert.Equal($"the file has {MaxBytes + 1} bytes, more than the limit of {MaxBytes}", error.Message);
        File.WriteAllBytes(big, new byte[MaxBytes]);
        Assert.Equal(MaxBytes, (await _roots.ReadFileAsync(big, CancellationToken.None)).Length);
        // The dataset's CSV files are streamed, so they are exempt from the image size limit.
        Assert.Equal(big, _roots.CheckFile(big, limitSize: false));
    }

    [Fact]
    public async Task Reading_honours_cancellation()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => _roots.ReadFileAsync(Path.Combine(_root, "dataset", "tower", "a.jpg"), cancelled.Token));
    }

    [Fact]
    public void Missing_files_are_refused_without_their_path()
    {
        AssertRefusedWithoutServerPaths(() => _roots.CheckFile(Path.Combine(_root, "dataset", "tower", "gone.jpg")), "does not exist");
    }

    [Fact]
    public void Start_up_refuses_roots_that_are_not_directories()
    {
        var validator = new IngestOptionsValidator();
        Assert.True(validator.Validate(Options.DefaultName, new IngestOptions { ImportRoots = [_root] }).Succeeded);
        var result = validator.Validate(Options.DefaultName, new IngestOptions
        {
            ImportRoots = [Path.Combine(_temp.Path, "missing"), Path.Combine(_outside, "secret.jpg")],
        });
        Assert.Equal(2, result.Failures!.Count());
    }

    [Fact]
    public void Real_paths_resolve_links_in_the_middle_of_a_path()
    {
        var link = Path.Combine(_temp.Path, "mid");
        Directory.CreateSymbolicLink(link, Path.Combine(_root, "dataset"));
        Assert.Equal(Path.Combine(_root, "dataset", "tower", "a.jpg"), RealPath.Resolve(Path.Combine(link, "tower", "a.jpg")));
        // '..' after a link climbs from the link's target, not lexically from the link.
        Assert.Equal(_root, RealPath.Resolve(Path.Combine(link, "..")));
    }
}
