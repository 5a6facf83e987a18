using System.Diagnostics;
using System.Text.RegularExpressions;
using Landmark.Testing;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>The Dockerfiles, read as text (no Docker engine here to build them).</summary>
public class DockerfileTests
{
    public static TheoryData<string> Services => new() { "ingest", "preprocess", "trainer", "embedder", "retrieval", "scorer", "platform" };

    private static string[] Lines(string service) =>
        File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "services", service, "Dockerfile"));

    [Theory]
    [MemberData(nameof(Services))]
    public void Image_is_multi_stage_non_root_with_a_health_check_and_the_service_ports(string service)
    {
        var lines = Lines(service);
        Assert.True(lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2, "multi-stage");
        var user = Assert.Single(lines, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.DoesNotMatch(@"^USER\s+(root|0)(:|$)", user);
        Assert.Contains(lines, l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal) && l.Contains("healthcheck", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("EXPOSE", StringComparison.Ordinal) && l.Contains("8080", StringComparison.Ordinal) && l.Contains("8081", StringComparison.Ordinal));
        var project = $"Landmark.{char.ToUpperInvariant(service[0])}{service[1..]}";
        Assert.Contains(lines, l => l.Contains($"services/{service}/{project}.csproj", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains($"{project}.dll", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "services", service, $"{project}.csproj")));
    }

    [Theory]
    [InlineData("trainer")]
    [InlineData("embedder")]
    public void Gpu_capable_images_build_the_cuda_variant_with_the_use_gpu_property(string service)
    {
        var text = string.Join('\n', Lines(service));
        Assert.Contains("ARG VARIANT=cpu", text, StringComparison.Ordinal);
        Assert.Contains("-p:UseGpu=", text, StringComparison.Ordinal);
        Assert.Contains("ARG CUDA_IMAGE=nvidia/cuda:", text, StringComparison.Ordinal);
        Assert.Contains("FROM ${CUDA_IMAGE} AS runtime-gpu", text, StringComparison.Ordinal);
        Assert.Contains("FROM runtime-${VARIANT}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpu_build_property_switches_onnx_runtime_to_its_cuda_packages_at_the_managed_version()
    {
        var project = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "shared", "Landmark.Embedding", "Landmark.Embedding.csproj"));
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime.Gpu\" Condition=\"'$(UseGpu)' == 'true'\"", project, StringComparison.Ordinal);
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime.Gpu.Linux\" Condition=\"'$(UseGpu)' == 'true'\"", project, StringComparison.Ordinal);
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime\" Condition=\"'$(UseGpu)' != 'true'\"", project, StringComparison.Ordinal);
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime.Managed\" />", project, StringComparison.Ordinal);
        // Every ONNX Runtime package at one version, and that version served for the CUDA packages (1.31.0).
        var props = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Packages.props"));
        var versions = Regex.Matches(props, @"<PackageVersion Include=""Microsoft\.ML\.OnnxRuntime[^""]*"" Version=""([^""]+)""").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Equal(["$(OnnxRuntimeVersion)"], versions);
        Assert.Equal(4, Regex.Matches(props, @"<PackageVersion Include=""Microsoft\.ML\.OnnxRuntime(\.Managed|\.Gpu|\.Gpu\.Linux)?"" ").Count);
        Assert.Matches(@"<OnnxRuntimeVersion>1\.31\.0</OnnxRuntimeVersion>", props);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public void Restore_is_its_own_layer_with_every_project_file_of_the_service_copied_before_the_sources(string service)
    {
        var lines = Lines(service);
        var restore = Array.FindIndex(lines, l => l.StartsWith("RUN dotnet restore ", StringComparison.Ordinal));
        var publish = Array.FindIndex(lines, l => l.StartsWith("RUN dotnet publish ", StringComparison.Ordinal));
        Assert.True(restore > 0 && publish > restore, "dotnet restore runs before dotnet publish");
        Assert.Contains("--no-restore", lines[publish], StringComparison.Ordinal);
        var buildStage = Array.FindLastIndex(lines, restore, l => l.StartsWith("FROM ", StringComparison.Ordinal));
        var beforeRestore = lines[buildStage..restore].Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)).ToList();
        // Only what restore reads: the repository's MSBuild files, build/ and project files.
        Assert.All(beforeRestore, l => Assert.Matches(@"^COPY ((global\.json|Directory\.Build\.props|Directory\.Build\.targets|Directory\.Packages\.props) )+\./$|^COPY build/ build/$|^COPY (\S+\.csproj) (\S+/)$", l));
        Assert.Contains("COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./", beforeRestore);
        var project = Path.Combine(TestPaths.RepoRoot, "services", service, ProjectName(service) + ".csproj");
        foreach (var file in ProjectClosure(project))
        {
            var relative = Path.GetRelativePath(TestPaths.RepoRoot, file).Replace('\\', '/');
            Assert.Contains($"COPY {relative} {Path.GetDirectoryName(relative)!.Replace('\\', '/')}/", beforeRestore);
            Assert.Contains(lines[restore..publish], l => l == $"COPY {Path.GetDirectoryName(relative)!.Replace('\\', '/')}/ {Path.GetDirectoryName(relative)!.Replace('\\', '/')}/");
        }
        // Restore and publish see the same properties (a GPU restore is not followed by a CPU publish).
        Assert.Equal(Regex.Matches(lines[restore], @" -p:\S+").Select(m => m.Value), Regex.Matches(lines[publish], @" -p:\S+").Select(m => m.Value));
    }

    private static string ProjectName(string service) => $"Landmark.{char.ToUpperInvariant(service[0])}{service[1..]}";

    /// <summary>A project and every project it references, directly or not.</summary>
    private static HashSet<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([Path.GetFullPath(project)]);
        while (stack.TryPop(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }
            foreach (Match m in Regex.Matches(File.ReadAllText(current), @"<ProjectReference Include=""([^""]+)"""))
            {
                stack.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(current)!, m.Groups[1].Value.Replace('\\', '/'))));
            }
        }
        return seen;
    }

    private static readonly Dictionary<string, string> BaseImageTags = new()
    {
        ["SDK_IMAGE"] = "mcr.microsoft.com/dotnet/sdk:10.0",
        ["ASPNET_IMAGE"] = "mcr.microsoft.com/dotnet/aspnet:10.0",
        ["CUDA_IMAGE"] = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04",
    };

    [Theory]
    [MemberData(nameof(Services))]
    public void Base_images_are_build_args_that_make_images_pins_by_digest(string service)
    {
        var lines = Lines(service);
        var stages = new HashSet<string>(StringComparer.Ordinal);
        foreach (var from in lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)))
        {
            var m = Regex.Match(from, @"^FROM (\S+) AS (\S+)$");
            Assert.True(m.Success, $"{service}: {from}");
            var image = m.Groups[1].Value;
            Assert.True(stages.Contains(image) || image == "runtime-${VARIANT}" || Regex.IsMatch(image, @"^\$\{(SDK|ASPNET|CUDA)_IMAGE\}$"),
                $"{service}: {from} names an image directly instead of a pinned build arg");
            stages.Add(m.Groups[2].Value);
        }
        Assert.DoesNotContain(lines, l => l.StartsWith("COPY --from=", StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal) && !l.Contains("--chown", StringComparison.Ordinal));
        foreach (var arg in lines.Where(l => Regex.IsMatch(l, @"^ARG (SDK|ASPNET|CUDA)_IMAGE=")))
        {
            var (name, value) = (arg[4..arg.IndexOf('=', StringComparison.Ordinal)], arg[(arg.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            Assert.Equal(BaseImageTags[name], value);
        }
    }

    [Fact]
    public void Pinned_base_images_are_digests_of_the_dockerfiles_tags_and_make_refuses_unpinned_builds()
    {
        var pins = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "build", "base-images.env")).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal(BaseImageTags.Keys.Order(StringComparer.Ordinal), pins.Select(l => l[..l.IndexOf('=', StringComparison.Ordinal)]).Order(StringComparer.Ordinal));
        foreach (var pin in pins)
        {
            var (name, value) = (pin[..pin.IndexOf('=', StringComparison.Ordinal)], pin[(pin.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            // Empty until tools/pin-base-images.sh runs where the registries can be reached; never a made-up digest.
            Assert.True(value.Length == 0 || Regex.IsMatch(value, "^" + Regex.Escape(BaseImageTags[name]) + "@sha256:[0-9a-f]{64}$"), $"{name}={value}");
        }
        var makefile = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Makefile"));
        Assert.Contains(". build/base-images.env", makefile, StringComparison.Ordinal);
        Assert.Contains("if [ \"$(ALLOW_UNPINNED)\" != 1 ]", makefile, StringComparison.Ordinal);
        Assert.Contains("--build-arg $$a=$${!a}", makefile, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "tools", "pin-base-images.sh")));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public void Image_carries_oci_labels(string service)
    {
        var text = string.Join('\n', Lines(service));
        Assert.Contains($"org.opencontainers.image.title=\"landmark-{service}\"", text, StringComparison.Ordinal);
        foreach (var label in new[] { "description", "version=\"${VERSION}\"", "revision=\"${REVISION}\"", "created=\"${CREATED}\"", "source=\"${SOURCE}\"" })
        {
            Assert.Contains("org.opencontainers.image." + label, text, StringComparison.Ordinal);
        }
        // The labels are set in the final stage (the build stage's labels do not reach the image).
        var final = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        Assert.Contains("LABEL org.opencontainers.image.title", final, StringComparison.Ordinal);
    }

    /// <summary><c>make images ARGS</c> with a <c>docker</c> on the PATH that only records its arguments: the exit code,
    /// make's output and each <c>docker</c> call.</summary>
    private static (int Code, string Output, List<string> DockerCalls) MakeImages(params string[] args)
    {
        var bin = Directory.CreateTempSubdirectory("landmark-fake-docker-");
        try
        {
            var log = Path.Combine(bin.FullName, "calls");
            var docker = Path.Combine(bin.FullName, "docker");
            File.WriteAllText(docker, $"#!/bin/sh\necho \"$*\" >> '{log}'\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(docker, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var info = new ProcessStartInfo("make") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
            foreach (var a in (string[])["--no-print-directory", "images", "REGISTRY=test.example/acme", "TAG=t1", .. args])
            {
                info.ArgumentList.Add(a);
            }
            info.Environment["PATH"] = bin.FullName + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
            foreach (var name in BaseImageTags.Keys.Append("ALLOW_UNPINNED"))
            {
                info.Environment.Remove(name);
            }
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "make images ran over a minute with a fake docker");
            return (process.ExitCode, stdout.Result + stderr.Result, File.Exists(log) ? [.. File.ReadAllLines(log)] : []);
        }
        finally
        {
            bin.Delete(recursive: true);
        }
    }

    private static string Pinned(string arg) => $"{BaseImageTags[arg]}@sha256:{new string('0', 60)}{arg.Length:x4}";

    [Fact]
    public void Make_images_passes_digests_given_on_its_command_line_to_every_build_over_the_pinned_file()
    {
        var pins = BaseImageTags.Keys.Select(a => $"{a}={Pinned(a)}").ToArray();
        var (code, output, calls) = MakeImages(pins);
        Assert.True(code == 0, output);
        // Every service, then the -gpu variants of trainer and embedder.
        Assert.Equal(7 + 2, calls.Count);
        Assert.All(calls, call =>
        {
            Assert.StartsWith("build -f services/", call, StringComparison.Ordinal);
            foreach (var arg in BaseImageTags.Keys)
            {
                Assert.Contains($"--build-arg {arg}={Pinned(arg)} ", call, StringComparison.Ordinal);
            }
        });
        Assert.Equal(2, calls.Count(c => c.Contains("--build-arg VARIANT=gpu", StringComparison.Ordinal)));
    }

    [Fact]
    public void Make_images_refuses_a_base_image_without_a_digest_unless_unpinned_builds_are_allowed()
    {
        string[] tagged = [.. BaseImageTags.Keys.Where(a => a != "ASPNET_IMAGE").Select(a => $"{a}={Pinned(a)}"), $"ASPNET_IMAGE={BaseImageTags["ASPNET_IMAGE"]}"];
        var (code, output, calls) = MakeImages(tagged);
        Assert.Equal(2, code);
        Assert.Contains("ASPNET_IMAGE='mcr.microsoft.com/dotnet/aspnet:10.0' is not pinned by digest", output, StringComparison.Ordinal);
        Assert.Empty(calls);

        var (allowed, allowedOutput, builds) = MakeImages([.. tagged, "ALLOW_UNPINNED=1"]);
        Assert.True(allowed == 0, allowedOutput);
        Assert.Contains("warning: ASPNET_IMAGE is not pinned by digest", allowedOutput, StringComparison.Ordinal);
        Assert.All(builds, call => Assert.Contains("--build-arg ASPNET_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0 ", call, StringComparison.Ordinal));
    }

    [Fact]
    public void Gpu_trainer_takes_libtorch_cuda_only_when_asked_and_defaults_to_the_served_cpu_build()
    {
        var text = string.Join('\n', Lines("trainer"));
        Assert.Contains("ARG TORCH_PACKAGE=TorchSharp-cpu", text, StringComparison.Ordinal);
        Assert.Contains("-p:TorchPackage=$TORCH_PACKAGE", text, StringComparison.Ordinal);
        var training = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "shared", "Landmark.Training", "Landmark.Training.csproj"));
        Assert.Contains("<TorchPackage Condition=\"'$(TorchPackage)' == ''\">TorchSharp-cpu</TorchPackage>", training, StringComparison.Ordinal);
        Assert.DoesNotContain("UseGpu", training, StringComparison.Ordinal);
        Assert.Contains("TORCH_PACKAGE ?= TorchSharp-cpu", File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Makefile")), StringComparison.Ordinal);
    }
}
