using k8s.Models;
using Landmark.Contracts.Messages;
using Xunit;

namespace Landmark.Deployment.Tests;

public class KustomizeOverlayTests
{
    public static TheoryData<string> Overlays => new() { "dev-cpu", "prod-gpu" };

    private static readonly string[] PlatformServices = ["ingest", "preprocess", "trainer", "embedder", "retrieval", "scorer"];

    private static IEnumerable<V1Deployment> Platform(string overlay) =>
        Kustomize.Render(overlay).OfType<V1Deployment>().Where(d => d.Metadata.Name.StartsWith("landmark-", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_service_is_rendered_as_a_deployment_and_a_service(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        foreach (var name in PlatformServices)
        {
            Assert.Single(objects.OfType<V1Deployment>(), d => d.Metadata.Name == $"landmark-{name}");
            Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == $"landmark-{name}");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_container_has_cpu_and_memory_requests_and_limits(string overlay)
    {
        foreach (var d in Kustomize.Render(overlay).OfType<V1Deployment>())
        {
            foreach (var c in d.Spec.Template.Spec.Containers)
            {
                foreach (var key in new[] { "cpu", "memory" })
                {
                    Assert.True(c.Resources?.Requests?.ContainsKey(key) == true, $"{d.Metadata.Name}/{c.Name} has no {key} request");
                    Assert.True(c.Resources?.Limits?.ContainsKey(key) == true, $"{d.Metadata.Name}/{c.Name} has no {key} limit");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_pod_runs_as_non_root_without_privilege_escalation(string overlay)
    {
        foreach (var d in Kustomize.Render(overlay).OfType<V1Deployment>())
        {
            var pod = d.Spec.Template.Spec;
            Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{d.Metadata.Name} may run as root");
            Assert.NotEqual(0, pod.SecurityContext?.RunAsUser ?? 0);
            foreach (var c in pod.Containers)
            {
                Assert.False(c.SecurityContext?.AllowPrivilegeEscalation ?? true, $"{d.Metadata.Name}/{c.Name} allows privilege escalation");
                Assert.Contains("ALL", c.SecurityContext?.Capabilities?.Drop ?? []);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Platform_containers_have_a_read_only_root_and_a_writable_tmp(string overlay)
    {
        foreach (var d in Platform(overlay))
        {
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.True(c.SecurityContext?.ReadOnlyRootFilesystem == true, $"{d.Metadata.Name} root filesystem is writable");
            var tmp = Assert.Single(c.VolumeMounts, m => m.MountPath == "/tmp");
            Assert.Contains(d.Spec.Template.Spec.Volumes, v => v.Name == tmp.Name && v.EmptyDir is not null);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Probes_use_grpc_health_on_the_configured_grpc_port_and_http_health_on_the_metrics_port(string overlay)
    {
        var config = Kustomize.Render(overlay).OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal));
        var grpcPort = int.Parse(config.Data["Landmark__Hosting__GrpcPort"], System.Globalization.CultureInfo.InvariantCulture);
        var httpPort = int.Parse(config.Data["Landmark__Hosting__HttpPort"], System.Globalization.CultureInfo.InvariantCulture);
        foreach (var d in Platform(overlay))
        {
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.Contains(c.Ports, p => p.Name == "grpc" && p.ContainerPort == grpcPort);
            Assert.Contains(c.Ports, p => p.Name == "http-metrics" && p.ContainerPort == httpPort);
            Assert.Equal(grpcPort, c.ReadinessProbe?.Grpc?.Port);
            Assert.Equal(grpcPort, c.StartupProbe?.Grpc?.Port);
            Assert.Equal("/healthz", c.LivenessProbe?.HttpGet?.Path);
            Assert.Equal("http-metrics", c.LivenessProbe?.HttpGet?.Port.Value);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Services_select_their_pods_and_target_named_container_ports(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        foreach (var s in objects.OfType<V1Service>())
        {
            var pods = objects.OfType<V1Deployment>().Where(d => s.Spec.Selector.All(kv => d.Spec.Template.Metadata.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value)).ToList();
            Assert.True(pods.Count == 1, $"service {s.Metadata.Name} selects {pods.Count} deployments");
            foreach (var port in s.Spec.Ports.Where(p => p.TargetPort is not null))
            {
                var target = port.TargetPort.Value;
                Assert.Contains(pods[0].Spec.Template.Spec.Containers.SelectMany(c => c.Ports ?? []),
                    p => p.Name == target || p.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) == target);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Service_endpoints_in_the_config_name_rendered_services_on_the_grpc_port(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal));
        var endpoints = config.Data.Where(kv => kv.Key.StartsWith("Landmark__Endpoints__", StringComparison.Ordinal) && kv.Key != "Landmark__Endpoints__CallTimeoutSeconds").ToList();
        Assert.Equal(["Landmark__Endpoints__Embedder", "Landmark__Endpoints__Ingest", "Landmark__Endpoints__Retrieval"], endpoints.Select(e => e.Key).Order(StringComparer.Ordinal));
        foreach (var (_, url) in endpoints)
        {
            // http://host:port, or dns:///host:port (every replica behind a headless Service).
            var uri = new Uri(url);
            var target = new Uri("http://" + (uri.Scheme == "dns" ? uri.AbsolutePath.Trim('/') : uri.Authority));
            var service = Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == target.Host);
            Assert.Contains(service.Spec.Ports, p => p.Port == target.Port && p.Name == "grpc");
        }
    }

    /// <summary>Every Secret key a rendered object reads: container environment and KEDA trigger authentications.</summary>
    private static List<(string Owner, string Secret, string Key, bool Optional)> SecretReferences(IReadOnlyList<object> objects)
    {
        var references = new List<(string, string, string, bool)>();
        foreach (var d in objects.OfType<V1Deployment>())
        {
            foreach (var c in d.Spec.Template.Spec.Containers)
            {
                foreach (var env in c.Env ?? [])
                {
                    if (env.ValueFrom?.SecretKeyRef is { } secretRef)
                    {
                        references.Add((d.Metadata.Name, secretRef.Name, secretRef.Key, secretRef.Optional == true));
                    }
                }
            }
        }
        foreach (var auth in objects.OfType<CustomResource>().Where(r => r.Kind == "TriggerAuthentication"))
        {
            foreach (Dictionary<object, object> r in (System.Collections.IEnumerable)auth.Spec["secretTargetRef"]!)
            {
                references.Add((auth.Metadata.Name, (string)r["name"], (string)r["key"], false));
            }
        }
        return references;
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_referenced_config_map_is_rendered(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        var configMaps = objects.OfType<V1ConfigMap>().Select(c => c.Metadata.Name).ToHashSet();
        foreach (var from in objects.OfType<V1Deployment>().SelectMany(d => d.Spec.Template.Spec.Containers).SelectMany(c => c.EnvFrom ?? []))
        {
            if (from.ConfigMapRef is { } cm)
            {
                Assert.Contains(cm.Name, configMaps);
            }
        }
    }

    [Fact]
    public void Development_renders_every_referenced_secret_with_the_key()
    {
        var objects = Kustomize.Render("dev-cpu");
        var secrets = objects.OfType<V1Secret>().ToDictionary(s => s.Metadata.Name, s => (s.StringData?.Keys ?? []).Concat(s.Data?.Keys ?? []).ToHashSet());
        foreach (var (owner, secret, key, optional) in SecretReferences(objects))
        {
            Assert.True(secrets.TryGetValue(secret, out var keys), $"{owner}: secret {secret} is not rendered");
            Assert.True(keys!.Contains(key) || optional, $"{owner}: secret {secret} has no key {key}");
        }
    }

    [Fact]
    public void Production_ships_no_secret_and_no_placeholder_credential()
    {
        Assert.Empty(Kustomize.Render("prod-gpu").OfType<V1Secret>());
        Assert.DoesNotContain("change-me", Kustomize.RenderText("prod-gpu"), StringComparison.OrdinalIgnoreCase);
        // The placeholders exist, for development only.
        Assert.Contains("change-me", Kustomize.RenderText("dev-cpu"), StringComparison.Ordinal);
    }

    [Fact]
    public void Production_reads_one_operator_made_secret_whose_every_key_is_documented()
    {
        var docs = File.ReadAllText(Path.Combine(Landmark.Testing.TestPaths.RepoRoot, "docs", "deployment.md"));
        Assert.Contains("create secret generic landmark-secrets", docs, StringComparison.Ordinal);
        var references = SecretReferences(Kustomize.Render("prod-gpu"));
        Assert.NotEmpty(references);
        foreach (var (owner, secret, key, optional) in references)
        {
            Assert.Equal("landmark-secrets", secret);
            Assert.True(optional || docs.Contains($"--from-literal={key}=", StringComparison.Ordinal),
                $"{owner}: key {key} of landmark-secrets is not in the documented secret command");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_service_reads_the_internal_key_for_calls_between_services(string overlay)
    {
        foreach (var d in Platform(overlay))
        {
            var env = d.Spec.Template.Spec.Containers[0].Env;
            Assert.Contains(env, e => e.Name == "Landmark__Auth__InternalKeys__0" && e.ValueFrom?.SecretKeyRef?.Key == "internal-key-0");
        }
    }

    [Fact]
    public void Only_development_runs_in_the_development_environment_where_placeholders_are_accepted()
    {
        static string? Environment(string overlay) =>
            Kustomize.Render(overlay).OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal)).Data
                .TryGetValue("ASPNETCORE_ENVIRONMENT", out var value) ? value : null;
        Assert.Equal("Development", Environment("dev-cpu"));
        Assert.Null(Environment("prod-gpu"));
        Assert.Equal("true", Kustomize.Render("prod-gpu").OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal)).Data["Landmark__Auth__Required"]);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Disruption_budgets_select_deployments(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        foreach (var pdb in objects.OfType<V1PodDisruptionBudget>())
        {
            Assert.Contains(objects.OfType<V1Deployment>(), d => pdb.Spec.Selector.MatchLabels.All(kv => d.Spec.Template.Metadata.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value));
        }
    }

    [Fact]
    public void Production_runs_trainer_and_embedder_on_the_gpu_pool_and_nothing_else()
    {
        foreach (var d in Platform("prod-gpu"))
        {
            var pod = d.Spec.Template.Spec;
            var limits = pod.Containers[0].Resources.Limits;
            var wantsGpu = d.Metadata.Name is "landmark-trainer" or "landmark-embedder";
            Assert.Equal(wantsGpu, limits.ContainsKey("nvidia.com/gpu"));
            if (wantsGpu)
            {
                Assert.Equal("1", limits["nvidia.com/gpu"].ToString());
                Assert.Equal("true", pod.NodeSelector["nvidia.com/gpu.present"]);
                Assert.Contains(pod.Tolerations, t => t.Key == "nvidia.com/gpu" && t.Effect == "NoSchedule");
                Assert.EndsWith("-gpu", pod.Containers[0].Image, StringComparison.Ordinal);
                Assert.Contains(pod.Containers[0].Env, e => e.Name == "Landmark__Embedder__UseCuda" && e.Value == "true");
            }
        }
        Assert.All(Platform("dev-cpu"), d => Assert.False(d.Spec.Template.Spec.Containers[0].Resources.Limits.ContainsKey("nvidia.com/gpu")));
    }

    [Fact]
    public void Production_scales_queue_workers_with_keda_on_their_queues_and_the_api_tier_with_hpa()
    {
        var objects = Kustomize.Render("prod-gpu");
        var deployments = objects.OfType<V1Deployment>().Select(d => d.Metadata.Name).ToHashSet();
        var scaled = objects.OfType<CustomResource>().Where(r => r.Kind == "ScaledObject").ToList();
        Assert.Equal(["landmark-embedder", "landmark-preprocess"], scaled.Select(s => s.Metadata.Name).Order(StringComparer.Ordinal));
        foreach (var s in scaled)
        {
            var target = (Dictionary<object, object>)s.Spec["scaleTargetRef"]!;
            Assert.Contains((string)target["name"], deployments);
            var trigger = (Dictionary<object, object>)((List<object>)s.Spec["triggers"]!)[0];
            Assert.Equal("rabbitmq", trigger["type"]);
            var queue = (string)((Dictionary<object, object>)trigger["metadata"])["queueName"];
            Assert.Contains(queue, QueueNames.All);
        }
        var hpas = objects.OfType<V2HorizontalPodAutoscaler>().ToList();
        Assert.Equal(["landmark-ingest", "landmark-scorer"], hpas.Select(h => h.Spec.ScaleTargetRef.Name).Order(StringComparer.Ordinal));
        Assert.Single(objects.OfType<CustomResource>(), r => r.Kind == "ServiceMonitor");
    }

    private static readonly string[] MakeImageServices = ["ingest", "preprocess", "trainer", "embedder", "retrieval", "scorer"];

    [Theory]
    [InlineData("dev-cpu")]
    [InlineData("prod-gpu")]
    public void Internal_clients_resolve_every_replica_through_a_headless_service(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Data?.ContainsKey("Landmark__Endpoints__Embedder") == true);
        foreach (var s in MakeImageServices)
        {
            var headless = objects.OfType<V1Service>().Single(x => x.Metadata.Name == $"landmark-{s}-replicas");
            Assert.Equal("None", headless.Spec.ClusterIP);
            Assert.Equal(s, headless.Spec.Selector["app.kubernetes.io/name"]);
            if (s is "ingest" or "embedder" or "retrieval")
            {
                Assert.Equal($"dns:///landmark-{s}-replicas:8080", config.Data[$"Landmark__Endpoints__{char.ToUpperInvariant(s[0])}{s[1..]}"]);
            }
        }
    }

    [Fact]
    public void Development_images_are_the_names_make_images_builds()
    {
        var makefile = File.ReadAllText(Path.Combine(Landmark.Testing.TestPaths.RepoRoot, "Makefile"));
        // make images tags $(REGISTRY)/landmark-<service>:$(TAG), REGISTRY defaulting to landmark.
        Assert.Contains("REGISTRY ?= landmark", makefile, StringComparison.Ordinal);
        Assert.Contains("-t $(REGISTRY)/landmark-$$s:$(TAG)", makefile, StringComparison.Ordinal);
        foreach (var d in Platform("dev-cpu"))
        {
            var service = d.Metadata.Name["landmark-".Length..];
            Assert.Contains(service, MakeImageServices);
            Assert.Equal($"landmark/landmark-{service}:dev", d.Spec.Template.Spec.Containers[0].Image);
        }
    }

    [Fact]
    public void Production_images_are_the_pushed_names_with_gpu_variants_for_trainer_and_embedder()
    {
        foreach (var d in Platform("prod-gpu"))
        {
            var service = d.Metadata.Name["landmark-".Length..];
            var gpu = service is "trainer" or "embedder";
            Assert.Equal($"ghcr.io/example/landmark-{service}:0.1.0{(gpu ? "-gpu" : "")}", d.Spec.Template.Spec.Containers[0].Image);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Config_map_is_generated_with_a_content_hash_that_every_service_reads(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        var config = Assert.Single(objects.OfType<V1ConfigMap>(), c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal));
        Assert.Matches("^landmark-config-[a-z0-9]{10}$", config.Metadata.Name);
        foreach (var d in Platform(overlay))
        {
            Assert.Contains(d.Spec.Template.Spec.Containers[0].EnvFrom, e => e.ConfigMapRef?.Name == config.Metadata.Name);
        }
    }

    [Fact]
    public void Changing_a_setting_renames_the_config_map_so_the_deployments_roll()
    {
        var copy = Directory.CreateTempSubdirectory("landmark-k8s-");
        try
        {
            CopyDirectory(Path.Combine(Landmark.Testing.TestPaths.RepoRoot, "k8s"), copy.FullName);
            static string Name(string rendered) =>
                k8s.KubernetesYaml.LoadAllFromString(rendered, new Dictionary<string, Type> { ["keda.sh/v1alpha1/ScaledObject"] = typeof(CustomResource), ["keda.sh/v1alpha1/TriggerAuthentication"] = typeof(CustomResource), ["monitoring.coreos.com/v1/ServiceMonitor"] = typeof(CustomResource) })
                    .OfType<V1Deployment>().Single(d => d.Metadata.Name == "landmark-scorer").Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name;
            var before = Name(Kustomize.RenderPath(Path.Combine(copy.FullName, "overlays", "prod-gpu")));
            var env = Path.Combine(copy.FullName, "base", "config.env");
            File.WriteAllText(env, File.ReadAllText(env).Replace("Logging__LogLevel__Default=Information", "Logging__LogLevel__Default=Debug", StringComparison.Ordinal));
            var after = Name(Kustomize.RenderPath(Path.Combine(copy.FullName, "overlays", "prod-gpu")));
            Assert.StartsWith("landmark-config-", before, StringComparison.Ordinal);
            Assert.NotEqual(before, after);
        }
        finally
        {
            copy.Delete(recursive: true);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }

    [Fact]
    public void Autoscaled_deployments_carry_no_replicas_so_an_apply_keeps_the_scale()
    {
        var objects = Kustomize.Render("prod-gpu");
        var scaled = objects.OfType<V2HorizontalPodAutoscaler>().Select(h => h.Spec.ScaleTargetRef.Name)
            .Concat(objects.OfType<CustomResource>().Where(r => r.Kind == "ScaledObject").Select(s => (string)((Dictionary<object, object>)s.Spec["scaleTargetRef"]!)["name"]))
            .ToHashSet();
        Assert.Equal(4, scaled.Count);
        foreach (var d in objects.OfType<V1Deployment>())
        {
            if (scaled.Contains(d.Metadata.Name))
            {
                Assert.True(d.Spec.Replicas is null, $"{d.Metadata.Name} is autoscaled but sets replicas: {d.Spec.Replicas}");
            }
            else
            {
                Assert.NotNull(d.Spec.Replicas);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Disruption_budgets_never_block_a_node_drain(string overlay)
    {
        var objects = Kustomize.Render(overlay);
        foreach (var pdb in objects.OfType<V1PodDisruptionBudget>())
        {
            Assert.Null(pdb.Spec.MinAvailable);
            Assert.Equal("1", pdb.Spec.MaxUnavailable?.Value);
        }
        Assert.NotEmpty(objects.OfType<V1PodDisruptionBudget>());
    }

    [Fact]
    public void Development_logs_text_and_production_logs_json()
    {
        static string Format(string overlay) =>
            Kustomize.Render(overlay).OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("landmark-config", StringComparison.Ordinal)).Data["Logging__Console__FormatterName"];
        Assert.Equal("simple", Format("dev-cpu"));
        Assert.Equal("json", Format("prod-gpu"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Platform_pods_know_their_pod_node_and_namespace_for_telemetry(string overlay)
    {
        foreach (var d in Platform(overlay))
        {
            var env = d.Spec.Template.Spec.Containers[0].Env.ToList();
            Assert.Equal("metadata.name", env.Single(e => e.Name == "K8S_POD_NAME").ValueFrom.FieldRef.FieldPath);
            Assert.Equal("spec.nodeName", env.Single(e => e.Name == "K8S_NODE_NAME").ValueFrom.FieldRef.FieldPath);
            var attributes = env.FindIndex(e => e.Name == "OTEL_RESOURCE_ATTRIBUTES");
            Assert.True(attributes > env.FindIndex(e => e.Name == "K8S_NAMESPACE_NAME"), $"{d.Metadata.Name}: OTEL_RESOURCE_ATTRIBUTES comes before the variables it uses");
            Assert.Contains("k8s.pod.name=$(K8S_POD_NAME)", env[attributes].Value, StringComparison.Ordinal);
        }
    }
}
