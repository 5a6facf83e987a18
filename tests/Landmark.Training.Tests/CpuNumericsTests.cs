using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Landmark.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Landmark.Training.Tests;

/// <summary>The ISA cap must be in place before the first convolution of the test process, whichever test runs first.</summary>
internal static class TestProcessSetup
{
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Before any test creates a oneDNN primitive.")]
    internal static void CapOneDnnIsa() => CpuNumerics.ApplyCpuIsaPolicy();
}

public class CpuNumericsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Self_check_passes_with_the_applied_isa_policy()
    {
        var result = CpuNumerics.SelfCheck();
        output.WriteLine(result.ToString());
        Assert.True(result.Passed, result.ToString());
        Assert.True(result.MaxRelativeError < CpuNumerics.Tolerance);
        Assert.Equal(result, CpuNumerics.EnsureTrustworthy());
    }

    [Fact]
    public void Auto_policy_caps_onednn_at_avx2_on_avx512_cpus_only()
    {
        var cap = CpuNumerics.OneDnnMaxCpuIsa;
        if (Environment.GetEnvironmentVariable(CpuNumerics.PolicyVariable) is null or "auto")
        {
            // Unless the runner set ONEDNN_MAX_CPU_ISA itself, the cap is AVX2 exactly on AVX-512 machines.
            Assert.True(cap == "AVX2" || !Avx512F.IsSupported, $"cap {cap ?? "(none)"} on a CPU with AVX-512");
        }
        Assert.Equal(cap, CpuNumerics.ApplyCpuIsaPolicy());
    }

    [Theory]
    [InlineData(24)]
    [InlineData(40)]
    public void Convolutions_with_an_input_channel_tail_match_float64(int inputChannels)
    {
        // The shapes oneDNN's avx512_core kernel got wrong on AVX-512 EPYC machines (channels above 16, not a multiple of 16).
        torch.manual_seed(3);
        using var noGrad = torch.no_grad();
        var x = torch.randn(2, inputChannels, 16, 16);
        var w = torch.randn(16, inputChannels, 3, 3) * 0.1;
        var y = nn.functional.conv2d(x, w, padding: [1, 1]);
        var reference = nn.functional.conv2d(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), padding: [1, 1]);
        var relative = (y.to_type(ScalarType.Float64) - reference).abs().max().item<double>() / reference.abs().max().item<double>();
        Assert.True(relative < 1e-5, $"relative error {relative:E2} with ONEDNN_MAX_CPU_ISA={CpuNumerics.OneDnnMaxCpuIsa}");
    }
}
