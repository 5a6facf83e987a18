using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using Landmark.Testing;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>The thin client (services/cli-remote) packs as a dotnet tool named <c>landmark</c> without the platform's
/// heavy native libraries: no libtorch (TorchSharp), no ONNX Runtime, none of the platform's service assemblies.</summary>
public sealed partial class ThinClientPackageTests
{
    // bin/<Configuration>/net10.0 of this test project: the tool was built in the same configuration.
    private static readonly string Configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    [GeneratedRegex(@"torch|onnxruntime|Landmark\.(Platform|Embedding|Training|Trainer|Embedder|Onnx|VectorIndex)\.dll", RegexOptions.IgnoreCase)]
    private static partial Regex Heavy();

    [Fact]
    public async Task The_packed_tool_holds_no_libtorch_no_onnx_runtime_and_no_platform_assembly()
    {
        using var output = TestPaths.CreateTempDirectory("landmark-tool-pack");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "pack", Path.Combine(TestPaths.RepoRoot, "services", "cli-remote", "Landmark.Cli.Remote.csproj"),
                     "--no-build", "-c", Configuration, "-o", output.Path, "-nologo" })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token);
        Assert.True(process.ExitCode == 0, $"dotnet pack: {await stdout} {await stderr}");

        var package = Assert.Single(Directory.GetFiles(output.Path, "*.nupkg"));
        using var zip = ZipFile.OpenRead(package);
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains(entries, e => e.EndsWith("/landmark.dll", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.EndsWith("/Landmark.Contracts.dll", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => Heavy().IsMatch(e));
        using (var settings = new StreamReader(zip.Entries.Single(e => e.Name == "DotnetToolSettings.xml").Open()))
        {
            Assert.Contains("Name=\"landmark\"", await settings.ReadToEndAsync(), StringComparison.Ordinal);
        }
        using (var deps = new StreamReader(zip.Entries.Single(e => e.Name == "landmark.deps.json").Open()))
        {
            var text = await deps.ReadToEndAsync();
            Assert.DoesNotContain("TorchSharp", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Microsoft.ML.OnnxRuntime", text, StringComparison.Ordinal);
        }

        // The same check finds libtorch and ONNX Runtime in the full CLI, which embeds the platform.
        var full = Path.Combine(TestPaths.RepoRoot, "services", "cli", "bin", Configuration, "net10.0");
        var fullFiles = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Contains(fullFiles, f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(fullFiles, f => f!.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase));
    }
}
