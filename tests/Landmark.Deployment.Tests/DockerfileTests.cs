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
        Assert.Contains("FROM nvidia/cuda:", text, StringComparison.Ordinal);
        Assert.Contains("FROM runtime-${VARIANT}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpu_build_property_switches_onnx_runtime_to_its_cuda_package()
    {
        var project = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "shared", "Landmark.Embedding", "Landmark.Embedding.csproj"));
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime.Gpu\" Condition=\"'$(UseGpu)' == 'true'\"", project, StringComparison.Ordinal);
        Assert.Contains("Include=\"Microsoft.ML.OnnxRuntime\" Condition=\"'$(UseGpu)' != 'true'\"", project, StringComparison.Ordinal);
    }
}
