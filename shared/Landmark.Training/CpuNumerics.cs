using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Landmark.Training;

/// <summary>Outcome of the CPU numerics self-check: the largest relative error of float32 against a float64 reference.</summary>
public sealed record NumericsCheckResult(bool Passed, double MaxRelativeError, string WorstCase, string CpuFeatures, string? OneDnnMaxCpuIsa)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{(Passed ? "passed" : "FAILED")}: max relative error {MaxRelativeError:E2} ({WorstCase}); CPU {CpuFeatures}; ONEDNN_MAX_CPU_ISA={OneDnnMaxCpuIsa ?? "(not set)"}");
}

/// <summary>Thrown when libtorch's CPU kernels compute wrong results on this machine.</summary>
public sealed class NumericsCheckException(NumericsCheckResult result)
    : InvalidOperationException($"the CPU numerics self-check {result}; training refused. Set LANDMARK_TORCH_CPU_ISA=auto (or ONEDNN_MAX_CPU_ISA=AVX2) before the process starts.")
{
    public NumericsCheckResult Result { get; } = result;
}

/// <summary>
/// Keeps libtorch's CPU numerics trustworthy.
/// <para>
/// The cause this guards against, measured on an AMD EPYC (Zen 5) with AVX-512: oneDNN's <c>jit:avx512_core</c> direct
/// convolution returns wrong fp32 results (relative error 0.1–0.3, occasionally NaN) whenever the input channel count
/// is above 16 and not a multiple of 16 (an input-channel tail, e.g. 24 channels). PyTorch's parity test failed and
/// training from scratch diverged to NaN there. The AVX2 kernels compute the same convolutions correctly.
/// </para>
/// <para>
/// The fix: before the first oneDNN primitive is created, <see cref="ApplyCpuIsaPolicy"/> caps oneDNN at AVX2 on CPUs
/// with AVX-512 (oneDNN reads <c>ONEDNN_MAX_CPU_ISA</c> once, at first use; it is set in the native environment,
/// which .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach on Linux). It runs as
/// this assembly's module initializer, so every process that trains or evaluates a network of this library gets it.
/// The policy comes from <c>LANDMARK_TORCH_CPU_ISA</c>: <c>auto</c> (default: AVX2 on AVX-512 CPUs),
/// <c>native</c> (no cap) or a oneDNN ISA name (<c>AVX2</c>, <c>AVX512_CORE</c>, …). An <c>ONEDNN_MAX_CPU_ISA</c>
/// already in the environment always wins. Cost here: about 15% of ResNet training throughput.
/// </para>
/// <para>
/// <see cref="SelfCheck"/> then runs small convolution (including the channel tail), batch-norm and linear forward and
/// backward passes against float64 and <see cref="EnsureTrustworthy"/> refuses to train when they disagree.
/// </para>
/// </summary>
public static class CpuNumerics
{
    public const string PolicyVariable = "LANDMARK_TORCH_CPU_ISA";
    public const string OneDnnVariable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>Relative error above which float32 results count as wrong (fp32 accumulation gives ~1e-6 here).</summary>
    public const double Tolerance = 1e-4;

    private static readonly Lock Gate = new();
    private static NumericsCheckResult? _result;

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "The ISA cap must be in place before the first oneDNN primitive of the process.")]
    internal static void Initialize() => ApplyCpuIsaPolicy();

    /// <summary>The ISA cap in effect for oneDNN in this process (null = none), after applying the policy once.</summary>
    public static string? OneDnnMaxCpuIsa => Environment.GetEnvironmentVariable(OneDnnVariable);

    /// <summary>Applies <c>LANDMARK_TORCH_CPU_ISA</c> (idempotent). Returns the cap now in effect, or null.</summary>
    public static string? ApplyCpuIsaPolicy()
    {
        var existing = Environment.GetEnvironmentVariable(OneDnnVariable);
        if (!string.IsNullOrEmpty(existing))
        {
            return existing;
        }
        var policy = (Environment.GetEnvironmentVariable(PolicyVariable) ?? "auto").Trim();
        string? cap = policy.ToLowerInvariant() switch
        {
            "" or "auto" => Avx512F.IsSupported ? "AVX2" : null,
            "native" or "none" => null,
            _ => policy.ToUpperInvariant(),
        };
        if (cap is not null)
        {
            SetNativeEnvironment(OneDnnVariable, cap);
        }
        return cap;
    }

    /// <summary>The CPU's vector features as a short list (for logs and errors).</summary>
    public static string CpuFeatures
    {
        get
        {
            var features = new List<string>();
            if (Avx2.IsSupported) features.Add("avx2");
            if (Fma.IsSupported) features.Add("fma");
            if (Avx512F.IsSupported) features.Add("avx512f");
            if (Avx512BW.IsSupported) features.Add("avx512bw");
            if (Avx512Vbmi.IsSupported) features.Add("avx512vbmi");
            if (AvxVnni.IsSupported) features.Add("avx-vnni");
            var model = ReadCpuModel();
            return $"{model} [{string.Join(' ', features)}], {Environment.ProcessorCount} cores";
        }
    }

    /// <summary>The self-check's result for this process (run once; a few tens of milliseconds).</summary>
    public static NumericsCheckResult SelfCheck()
    {
        lock (Gate)
        {
            return _result ??= Run();
        }
    }

    /// <summary>Throws <see cref="NumericsCheckException"/> when the self-check fails.</summary>
    public static NumericsCheckResult EnsureTrustworthy()
    {
        var result = SelfCheck();
        return result.Passed ? result : throw new NumericsCheckException(result);
    }

    private static NumericsCheckResult Run()
    {
        // The check's convolutions are the process's first: without this libtorch prints its NNPACK warning here.
        DisableNnpack();
        using var scope = NewDisposeScope();
        var generator = new Generator(20_240_611);
        var worst = 0.0;
        var worstCase = "none";
        void Record(string name, double error)
        {
            if (double.IsNaN(error) || error > worst)
            {
                worst = double.IsNaN(error) ? double.PositiveInfinity : error;
                worstCase = name;
            }
        }
        // Convolutions: the channel tail that broke (24 in), ResNet's stem and stride-2 shapes, a 1×1 projection.
        foreach (var (cin, cout, k, s, hw) in new (long, long, long, long, long)[] { (24, 16, 3, 1, 12), (24, 32, 3, 2, 12), (3, 16, 7, 2, 24), (32, 32, 3, 1, 8), (16, 32, 1, 2, 12) })
        {
            var x = torch.randn([2, cin, hw, hw], generator: generator);
            var w = torch.randn([cout, cin, k, k], generator: generator) * 0.2;
            var (fwd, dx, dw) = Compare(x, w, (a, b) => nn.functional.conv2d(a, b, strides: [s, s], padding: [k / 2, k / 2]), generator);
            Record($"conv {cin}→{cout} {k}×{k}/{s} forward", fwd);
            Record($"conv {cin}→{cout} {k}×{k}/{s} input gradient", dx);
            Record($"conv {cin}→{cout} {k}×{k}/{s} weight gradient", dw);
        }
        {
            var x = torch.randn([4, 24, 6, 6], generator: generator) * 3 + 1;
            var gamma = torch.rand([24], generator: generator) + 0.5;
            var (fwd, dx, dg) = Compare(x, gamma, (a, g) => nn.functional.batch_norm(a, null, null, g, null, training: true), generator);
            Record("batch norm forward", fwd);
            Record("batch norm input gradient", dx);
            Record("batch norm weight gradient", dg);
        }
        {
            var x = torch.randn([8, 200], generator: generator);
            var w = torch.randn([72, 200], generator: generator) * 0.1;
            var (fwd, dx, dw) = Compare(x, w, (a, b) => nn.functional.linear(a, b), generator);
            Record("linear forward", fwd);
            Record("linear input gradient", dx);
            Record("linear weight gradient", dw);
        }
        return new NumericsCheckResult(worst <= Tolerance, worst, worstCase, CpuFeatures, OneDnnMaxCpuIsa);
    }

    /// <summary>f(x, w) in float32 and float64, then the gradients of Σ f·r (r a fixed random tensor) with respect to
    /// both; relative max errors.</summary>
    private static (double Forward, double InputGrad, double WeightGrad) Compare(Tensor x, Tensor w, Func<Tensor, Tensor, Tensor> f, Generator generator)
    {
        var x32 = x.detach().clone().requires_grad_(true);
        var w32 = w.detach().clone().requires_grad_(true);
        var y32 = f(x32, w32);
        var r = torch.randn(y32.shape, generator: generator);
        (y32 * r).sum().backward();
        var x64 = x.detach().to_type(ScalarType.Float64).requires_grad_(true);
        var w64 = w.detach().to_type(ScalarType.Float64).requires_grad_(true);
        var y64 = f(x64, w64);
        (y64 * r.to_type(ScalarType.Float64)).sum().backward();
        return (Relative(y32, y64), Relative(x32.grad!, x64.grad!), Relative(w32.grad!, w64.grad!));
    }

    private static double Relative(Tensor actual, Tensor reference)
    {
        var scale = reference.abs().max().item<double>();
        var diff = (actual.to_type(ScalarType.Float64) - reference).abs().max().item<double>();
        return diff / Math.Max(scale, 1e-12);
    }

    private static string ReadCpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                {
                    if (line.StartsWith("model name", StringComparison.Ordinal))
                    {
                        return line[(line.IndexOf(':') + 1)..].Trim();
                    }
                }
            }
        }
        catch (IOException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>Sets a variable in the process's native environment (what libtorch's getenv reads) and in .NET's view.</summary>
    private static void SetNativeEnvironment(string name, string value)
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = NativeMethods.setenv(name, value, 1);
        }
        Environment.SetEnvironmentVariable(name, value);
    }

    private static int _nnpackOff;

    /// <summary>Turns libtorch's NNPACK path off once per process: on CPUs it does not support it prints "Could not
    /// initialize NNPACK! Reason: Unsupported hardware" at every pooling call and falls back anyway. The switch is
    /// <c>at::globalContext().setUserEnabledNNPACK(false)</c> (what PyTorch's <c>torch.backends.nnpack.set_flags</c>
    /// calls), reached through libtorch's exported C++ symbols; where they are missing nothing changes.</summary>
    public static void DisableNnpack()
    {
        if (Interlocked.Exchange(ref _nnpackOff, 1) == 1 || !OperatingSystem.IsLinux())
        {
            return;
        }
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            NativeMethods.SetUserEnabledNnpack(NativeMethods.GlobalContext(), false);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    private static class NativeMethods
    {
        [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
        internal static extern IntPtr GlobalContext();

        [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
        internal static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

        [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        internal static extern int setenv(string name, string value, int overwrite);
    }
}
