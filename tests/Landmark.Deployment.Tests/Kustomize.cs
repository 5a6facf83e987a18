using System.Diagnostics;
using k8s;
using k8s.Models;
using Landmark.Testing;

namespace Landmark.Deployment.Tests;

/// <summary>A custom resource (KEDA, Prometheus Operator) loaded without its CRD types.</summary>
public sealed class CustomResource : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";
    public string Kind { get; set; } = "";
    public V1ObjectMeta Metadata { get; set; } = new();
    public Dictionary<string, object?> Spec { get; set; } = [];
}

/// <summary>Renders a kustomize overlay with <c>kubectl kustomize</c> and loads every object into typed models.</summary>
public static class Kustomize
{
    private static readonly Dictionary<string, Type> CustomTypes = new()
    {
        ["keda.sh/v1alpha1/ScaledObject"] = typeof(CustomResource),
        ["keda.sh/v1alpha1/TriggerAuthentication"] = typeof(CustomResource),
        ["monitoring.coreos.com/v1/ServiceMonitor"] = typeof(CustomResource),
    };

    private static readonly Dictionary<string, IReadOnlyList<object>> Cache = [];
    private static readonly Dictionary<string, string> TextCache = [];

    /// <summary>The overlay's rendered objects.</summary>
    public static IReadOnlyList<object> Render(string overlay)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(overlay, out var cached))
            {
                return cached;
            }
            var objects = KubernetesYaml.LoadAllFromString(RenderText(overlay), CustomTypes);
            Cache[overlay] = objects;
            return objects;
        }
    }

    /// <summary>The overlay rendered as YAML text.</summary>
    public static string RenderText(string overlay)
    {
        lock (TextCache)
        {
            if (TextCache.TryGetValue(overlay, out var cached))
            {
                return cached;
            }
            var text = RenderPath(Path.Combine(TestPaths.RepoRoot, "k8s", "overlays", overlay));
            TextCache[overlay] = text;
            return text;
        }
    }

    /// <summary>Any kustomization directory rendered as YAML text (not cached).</summary>
    public static string RenderPath(string path)
    {
        var info = new ProcessStartInfo("kubectl") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("kustomize");
        info.ArgumentList.Add(path);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("kubectl (with its built-in kustomize) is needed to render k8s/overlays; install kubectl.", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"kubectl kustomize {path} failed: {stderr.Result}");
            }
            return stdout.Result;
        }
    }
}
