using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Deployment.Tests;

/// <summary>
/// What the GPU images build, done here without Docker or a GPU: the embedder built with <c>-p:UseGpu=true</c> (ONNX
/// Runtime for CUDA) and the GPU trainer's restore. Each runs <c>dotnet</c> in its own artifacts folder, so the normal
/// build output is left alone. A GPU variant restoring a version that is not served would show as NU1603 (restore
/// silently taking the next version) and as a managed/native version skew in the assets file.
/// </summary>
public sealed class GpuImageBuildTests(ITestOutputHelper output)
{
    private static readonly string OnnxRuntimeVersion =
        Regex.Match(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Packages.props")), "<OnnxRuntimeVersion>([^<]+)</OnnxRuntimeVersion>").Groups[1].Value;

    private (int ExitCode, string Output) Dotnet(string artifacts, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var a in new[] { "--artifacts-path", artifacts, "-nologo", "--disable-build-servers", "-p:UseSharedCompilation=false" })
        {
            info.ArgumentList.Add(a);
        }
        // The test host's MSBuild variables would point the child build at the test run's SDK state.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(15)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} ran over 15 minutes");
        }
        var text = stdout.Result + stderr.Result;
        output.WriteLine(text.Length > 6000 ? text[^6000..] : text);
        return (process.ExitCode, text);
    }

    private static Dictionary<string, string> OnnxPackages(string assetsFile)
    {
        using var assets = JsonDocument.Parse(File.ReadAllText(assetsFile));
        return assets.RootElement.GetProperty("libraries").EnumerateObject()
            .Where(l => l.Value.GetProperty("type").GetString() == "package" && l.Name.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal))
            .ToDictionary(l => l.Name[..l.Name.IndexOf('/', StringComparison.Ordinal)], l => l.Name[(l.Name.IndexOf('/', StringComparison.Ordinal) + 1)..]);
    }

    private static List<string> RestoreWarnings(string assetsFile, string code)
    {
        using var assets = JsonDocument.Parse(File.ReadAllText(assetsFile));
        return assets.RootElement.TryGetProperty("logs", out var logs)
            ? logs.EnumerateArray().Where(l => l.GetProperty("code").GetString() == code).Select(l => l.GetProperty("message").GetString()!).ToList()
            : [];
    }

    [Fact]
    public void Gpu_embedder_restores_and_builds_with_one_onnx_runtime_version_and_no_nu1603()
    {
        var artifacts = Directory.CreateTempSubdirectory("landmark-gpu-embedder-");
        try
        {
            var (exitCode, text) = Dotnet(artifacts.FullName, "build", "services/embedder/Landmark.Embedder.csproj", "-p:UseGpu=true");
            Assert.True(exitCode == 0, "the GPU embedder does not build");
            Assert.DoesNotMatch(@"NU1603[^\n]*OnnxRuntime", text);
            var assetsFile = Path.Combine(artifacts.FullName, "obj", "Landmark.Embedding", "project.assets.json");
            Assert.DoesNotContain(RestoreWarnings(assetsFile, "NU1603"), m => m.Contains("OnnxRuntime", StringComparison.Ordinal));
            var packages = OnnxPackages(assetsFile);
            // The CUDA build, with managed API and native libraries at the one pinned version; no CPU package beside it.
            Assert.Equal(OnnxRuntimeVersion, packages["Microsoft.ML.OnnxRuntime.Gpu"]);
            Assert.Equal(OnnxRuntimeVersion, packages["Microsoft.ML.OnnxRuntime.Gpu.Linux"]);
            Assert.Equal(OnnxRuntimeVersion, packages["Microsoft.ML.OnnxRuntime.Managed"]);
            Assert.False(packages.ContainsKey("Microsoft.ML.OnnxRuntime"), "the CPU package is restored beside the GPU one");
            Assert.All(packages, p => Assert.Equal(OnnxRuntimeVersion, p.Value));
            var native = Directory.EnumerateFiles(Path.Combine(artifacts.FullName, "bin", "Landmark.Embedder"), "libonnxruntime_providers_cuda.so", SearchOption.AllDirectories);
            Assert.NotEmpty(native);
        }
        finally
        {
            artifacts.Delete(recursive: true);
        }
    }

    [Fact]
    public void Gpu_trainer_restores_with_the_served_cpu_libtorch_by_default()
    {
        var artifacts = Directory.CreateTempSubdirectory("landmark-gpu-trainer-");
        try
        {
            // What the trainer Dockerfile runs for VARIANT=gpu without TORCH_PACKAGE.
            var (exitCode, text) = Dotnet(artifacts.FullName, "restore", "services/trainer/Landmark.Trainer.csproj", "-p:UseGpu=true", "-p:TorchPackage=TorchSharp-cpu");
            Assert.True(exitCode == 0, "the GPU trainer does not restore");
            Assert.DoesNotContain("NU1101", text, StringComparison.Ordinal);
            using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(artifacts.FullName, "obj", "Landmark.Training", "project.assets.json")));
            var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name).ToList();
            Assert.Contains(libraries, l => l.StartsWith("TorchSharp-cpu/", StringComparison.Ordinal));
            Assert.DoesNotContain(libraries, l => l.StartsWith("TorchSharp-cuda", StringComparison.Ordinal));
            Assert.Equal(OnnxRuntimeVersion, OnnxPackages(Path.Combine(artifacts.FullName, "obj", "Landmark.Embedding", "project.assets.json"))["Microsoft.ML.OnnxRuntime.Gpu"]);
        }
        finally
        {
            artifacts.Delete(recursive: true);
        }
    }
}
