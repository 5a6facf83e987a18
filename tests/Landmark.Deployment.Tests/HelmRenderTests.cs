using System.Text.Json;
using k8s.Models;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>The chart rendered by the real helm (<c>helm template</c>) and read as typed Kubernetes objects.</summary>
public class HelmRenderTests
{
    private static readonly string[] Services = ["ingest", "preprocess", "trainer", "embedder", "retrieval", "scorer"];

    private static readonly string[] DevValues = ["-f", Path.Combine(Helm.Chart, "ci", "dev-values.yaml")];

    private static IEnumerable<V1PodTemplateSpec> PodTemplates(IReadOnlyList<object> objects) =>
        objects.OfType<V1Deployment>().Select(d => d.Spec.Template)
            .Concat(objects.OfType<V1StatefulSet>().Select(s => s.Spec.Template))
            .Concat(objects.OfType<V1Job>().Select(j => j.Spec.Template));

    private static string Annotation(IReadOnlyList<object> objects, string deployment, string key) =>
        objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == deployment).Spec.Template.Metadata.Annotations[key];

    [Fact]
    public void Install_without_keys_fails_while_authentication_is_required()
    {
        var (code, _, errors) = Helm.Try("landmark");
        Assert.NotEqual(0, code);
        Assert.Contains("auth.apiKeys", errors, StringComparison.Ordinal);
        // Tools that skip the schema still meet the template's fail.
        var (skipped, _, skippedErrors) = Helm.Try("landmark", "--skip-schema-validation");
        Assert.NotEqual(0, skipped);
        Assert.Contains("auth.required is true but no API key is set", skippedErrors, StringComparison.Ordinal);
        var (internalOnly, _, internalErrors) = Helm.Try("landmark", "--skip-schema-validation", "--set", "auth.apiKeys[0]=test-public-api-key-01");
        Assert.NotEqual(0, internalOnly);
        Assert.Contains("no internal key is set", internalErrors, StringComparison.Ordinal);
        // Either way out: an existing Secret, or no authentication.
        Assert.Equal(0, Helm.Try("landmark", "--set", "auth.existingSecret=landmark-credentials").Code);
        Assert.Equal(0, Helm.Try("landmark", "--set", "auth.required=false").Code);
    }

    [Theory]
    [InlineData("landmark", "landmark")]
    [InlineData("prod", "prod-landmark")]
    [InlineData("landmark-eu", "landmark-eu")]
    public void Release_name_prefixes_every_object_once(string release, string fullName)
    {
        var objects = Helm.Objects(release, DevValues);
        var prefix = fullName + "-";
        foreach (var o in objects.Cast<k8s.IKubernetesObject<V1ObjectMeta>>())
        {
            Assert.True(o.Metadata.Name == fullName || o.Metadata.Name.StartsWith(prefix, StringComparison.Ordinal), $"{o.Metadata.Name} is not named after {fullName}");
            Assert.DoesNotContain("landmark-landmark", o.Metadata.Name, StringComparison.Ordinal);
        }
        Assert.Equal(Services.Select(s => prefix + s).Order(StringComparer.Ordinal), objects.OfType<V1Deployment>().Select(d => d.Metadata.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Name_overrides_replace_the_prefix()
    {
        Assert.All(Helm.Objects("landmark", "--set", "fullnameOverride=lm").OfType<V1Deployment>(), d => Assert.Matches("^lm-[a-z]+$", d.Metadata.Name));
        Assert.All(Helm.Objects("prod", "--set", "nameOverride=recog").OfType<V1Deployment>(), d => Assert.StartsWith("prod-recog-", d.Metadata.Name, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_object_carries_the_app_version_and_every_pod_the_token_less_service_account()
    {
        var objects = Helm.Objects("landmark", DevValues);
        foreach (var o in objects.Cast<k8s.IKubernetesObject<V1ObjectMeta>>())
        {
            Assert.Equal("0.1.0", o.Metadata.Labels["app.kubernetes.io/version"]);
        }
        var account = Assert.Single(objects.OfType<V1ServiceAccount>());
        Assert.False(account.AutomountServiceAccountToken);
        foreach (var pod in PodTemplates(objects).Select(t => t.Spec).Concat(objects.OfType<V1Pod>().Select(p => p.Spec)))
        {
            Assert.Equal(account.Metadata.Name, pod.ServiceAccountName);
            Assert.False(pod.AutomountServiceAccountToken);
        }
    }

    [Fact]
    public void Autoscaled_deployments_carry_no_replicas_and_the_others_do()
    {
        var objects = Helm.Objects("landmark", DevValues);
        var scaled = objects.OfType<V2HorizontalPodAutoscaler>().Select(h => h.Spec.ScaleTargetRef.Name)
            .Concat(objects.OfType<CustomResource>().Where(r => r.Kind == "ScaledObject").Select(s => (string)((Dictionary<object, object>)s.Spec["scaleTargetRef"]!)["name"]))
            .ToHashSet();
        Assert.Equal(["landmark-embedder", "landmark-ingest", "landmark-preprocess", "landmark-scorer"], scaled.Order(StringComparer.Ordinal));
        foreach (var d in objects.OfType<V1Deployment>())
        {
            Assert.Equal(!scaled.Contains(d.Metadata.Name), d.Spec.Replicas is not null);
        }
    }

    [Fact]
    public void Internal_clients_reach_every_replica_through_headless_services_and_the_embedder_scales_on_both_of_its_queues()
    {
        var objects = Helm.Objects("landmark", DevValues);
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Data?.ContainsKey("Landmark__Endpoints__Embedder") == true);
        foreach (var s in Services)
        {
            var headless = objects.OfType<V1Service>().Single(x => x.Metadata.Name == $"landmark-{s}-replicas");
            Assert.Equal("None", headless.Spec.ClusterIP);
            Assert.Equal(8080, headless.Spec.Ports.Single().Port);
            if (s is "ingest" or "embedder" or "retrieval")
            {
                Assert.Equal($"dns:///landmark-{s}-replicas:8080", config.Data[$"Landmark__Endpoints__{char.ToUpperInvariant(s[0])}{s[1..]}"]);
            }
        }
        var embedder = objects.OfType<CustomResource>().Single(r => r.Kind == "ScaledObject" && r.Metadata.Name == "landmark-embedder");
        var queues = ((List<object>)embedder.Spec["triggers"]!).Cast<Dictionary<object, object>>()
            .Select(t => (string)((Dictionary<object, object>)t["metadata"])["queueName"]).ToList();
        Assert.Equal(["landmark-embed", "landmark-reembed"], queues);

        var plain = Helm.Objects("landmark", [.. DevValues, "--set", "config.clientLoadBalancing=false"]).OfType<V1ConfigMap>()
            .Single(c => c.Data?.ContainsKey("Landmark__Endpoints__Embedder") == true);
        Assert.Equal("http://landmark-embedder:8080", plain.Data["Landmark__Endpoints__Embedder"]);
    }

    [Fact]
    public void Disruption_budgets_allow_one_pod_down_and_a_blocking_min_available_fails_the_install()
    {
        var objects = Helm.Objects("landmark", DevValues);
        Assert.NotEmpty(objects.OfType<V1PodDisruptionBudget>());
        Assert.All(objects.OfType<V1PodDisruptionBudget>(), p =>
        {
            Assert.Null(p.Spec.MinAvailable);
            Assert.Equal("1", p.Spec.MaxUnavailable.Value);
        });
        var (code, _, errors) = Helm.Try("landmark", [.. Helm.Keys, "--set", "services.embedder.pdb.maxUnavailable=null", "--set", "services.embedder.pdb.minAvailable=1"]);
        Assert.NotEqual(0, code);
        Assert.Contains("services.embedder.pdb.minAvailable=1 with at least 1 replica(s) would block every node drain", errors, StringComparison.Ordinal);
        // Below the fewest replicas it is kept (ingest: HPA minimum 2).
        var ingest = Helm.Objects("landmark", "--set", "services.ingest.pdb.maxUnavailable=null", "--set", "services.ingest.pdb.minAvailable=1")
            .OfType<V1PodDisruptionBudget>().Single(p => p.Metadata.Name == "landmark-ingest");
        Assert.Equal("1", ingest.Spec.MinAvailable.Value);
    }

    [Fact]
    public void Rotating_a_key_or_changing_a_setting_rolls_the_pods()
    {
        var before = Helm.Objects("landmark");
        var rotated = Helm.Objects("landmark", "--set", "auth.apiKeys[0]=rotated-public-api-key-02");
        var reconfigured = Helm.Objects("landmark", "--set", "config.logLevel=Debug");
        foreach (var s in Services)
        {
            var name = $"landmark-{s}";
            Assert.NotEqual(Annotation(before, name, "checksum/secret"), Annotation(rotated, name, "checksum/secret"));
            Assert.Equal(Annotation(before, name, "checksum/config"), Annotation(rotated, name, "checksum/config"));
            Assert.NotEqual(Annotation(before, name, "checksum/config"), Annotation(reconfigured, name, "checksum/config"));
        }
    }

    [Fact]
    public void Training_job_keeps_its_name_across_upgrades_that_do_not_change_it_and_survives_the_others()
    {
        static V1Job Job(params string[] args) => Assert.Single(Helm.Objects("landmark", ["--set", "training.job.enabled=true", .. args]).OfType<V1Job>());
        var job = Job();
        Assert.Equal(job.Metadata.Name, Job().Metadata.Name);
        // Settings the running pod does not see leave the Job alone.
        Assert.Equal(job.Metadata.Name, Job("--set", "config.logLevel=Debug", "--set", "services.scorer.replicas=5").Metadata.Name);
        Assert.NotEqual(job.Metadata.Name, Job("--set", "image.tag=0.2.0").Metadata.Name);
        Assert.NotEqual(job.Metadata.Name, Job("--set", "training.job.runId=2").Metadata.Name);
        Assert.Equal("keep", job.Metadata.Annotations["helm.sh/resource-policy"]);
        Assert.DoesNotContain(job.Metadata.Annotations.Keys, k => k.StartsWith("helm.sh/hook", StringComparison.Ordinal));
        Assert.Equal(604800, job.Spec.TtlSecondsAfterFinished);
        Assert.True(job.Metadata.Name.Length <= 63);
        var env = job.Spec.Template.Spec.Containers[0].Env;
        Assert.Contains(env, e => e.Name == "Landmark__TrainingJob__Id" && e.ValueFrom.FieldRef.FieldPath == "metadata.labels['job-name']");
    }

    [Fact]
    public void Gpu_workloads_ask_for_the_configured_resource_name()
    {
        var objects = Helm.Objects("landmark", "--set", "gpuNodePool.resourceName=nvidia.com/mig-1g.10gb", "--set", "training.job.enabled=true",
            "--set", "services.embedder.gpu.resourceName=nvidia.com/gpu.shared");
        var limits = PodTemplates(objects).ToDictionary(t => t.Metadata.Labels["app.kubernetes.io/name"], t => t.Spec.Containers[0].Resources.Limits);
        Assert.Equal("1", limits["trainer"]["nvidia.com/mig-1g.10gb"].ToString());
        Assert.Equal("1", limits["trainer-job"]["nvidia.com/mig-1g.10gb"].ToString());
        Assert.Equal("1", limits["embedder"]["nvidia.com/gpu.shared"].ToString());
        Assert.DoesNotContain(limits.Values.SelectMany(l => l.Keys), k => k == "nvidia.com/gpu");
        Assert.False(limits["scorer"].ContainsKey("nvidia.com/mig-1g.10gb"));
    }

    [Fact]
    public void Pod_conventions_reach_every_service()
    {
        var objects = Helm.Objects("landmark",
            "--set", "podLabels.team=vision", "--set", "podAnnotations.owner=ml-platform", "--set", "priorityClassName=platform-high",
            "--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
            "--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
            "--set", "extraEnv[0].name=HTTPS_PROXY", "--set", "extraEnv[0].value=http://proxy:3128",
            "--set", "extraVolumes[0].name=ca", "--set", "extraVolumes[0].configMap.name=corporate-ca",
            "--set", "extraVolumeMounts[0].name=ca", "--set", "extraVolumeMounts[0].mountPath=/etc/ssl/corporate",
            "--set", "services.scorer.priorityClassName=api-critical", "--set", "services.scorer.podLabels.tier=api");
        foreach (var d in objects.OfType<V1Deployment>())
        {
            var template = d.Spec.Template;
            var service = template.Metadata.Labels["app.kubernetes.io/name"];
            Assert.Equal("vision", template.Metadata.Labels["team"]);
            Assert.Equal("ml-platform", template.Metadata.Annotations["owner"]);
            Assert.Equal(service == "scorer" ? "api-critical" : "platform-high", template.Spec.PriorityClassName);
            Assert.Equal(service == "scorer", template.Metadata.Labels.ContainsKey("tier"));
            Assert.Equal("pool", template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Key);
            var container = template.Spec.Containers[0];
            Assert.Contains(container.Env, e => e.Name == "HTTPS_PROXY" && e.Value == "http://proxy:3128");
            Assert.Contains(template.Spec.Volumes, v => v.Name == "ca" && v.ConfigMap?.Name == "corporate-ca");
            Assert.Contains(container.VolumeMounts, m => m.Name == "ca" && m.MountPath == "/etc/ssl/corporate");
            // The default spread selects the service's own pods.
            var spread = Assert.Single(template.Spec.TopologySpreadConstraints);
            Assert.Equal(d.Spec.Selector.MatchLabels, spread.LabelSelector.MatchLabels);
            Assert.Equal("ScheduleAnyway", spread.WhenUnsatisfiable);
        }
    }

    [Fact]
    public void Services_get_their_identity_and_json_logs_through_the_environment()
    {
        var objects = Helm.Objects("landmark", "--set", "config.environment=staging", "--set", "image.tag=1.4.2");
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "landmark");
        Assert.Equal("json", config.Data["Logging__Console__FormatterName"]);
        foreach (var d in objects.OfType<V1Deployment>())
        {
            var env = d.Spec.Template.Spec.Containers[0].Env.ToList();
            Assert.Equal("spec.nodeName", env.Single(e => e.Name == "K8S_NODE_NAME").ValueFrom.FieldRef.FieldPath);
            Assert.Equal("metadata.name", env.Single(e => e.Name == "K8S_POD_NAME").ValueFrom.FieldRef.FieldPath);
            var attributes = env.FindIndex(e => e.Name == "OTEL_RESOURCE_ATTRIBUTES");
            Assert.True(attributes > env.FindIndex(e => e.Name == "K8S_NODE_NAME"), "dependent variables must come after the ones they use");
            Assert.Equal("service.version=1.4.2,deployment.environment=staging,k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME)", env[attributes].Value);
        }
    }

    [Fact]
    public void Per_consumer_messaging_settings_reach_the_services_and_an_unknown_consumer_fails_the_install()
    {
        var objects = Helm.Objects("landmark", "--set", "config.messaging.consumers.EmbedConsumer.concurrencyLimit=32",
            "--set", "config.messaging.consumers.IndexConsumer.retryLimit=2");
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "landmark");
        Assert.Equal("32", config.Data["Landmark__Messaging__Consumers__EmbedConsumer__concurrencyLimit"]);
        Assert.Equal("2", config.Data["Landmark__Messaging__Consumers__IndexConsumer__retryLimit"]);

        var (code, _, errors) = Helm.Try("landmark", [.. Helm.Keys, "--set", "config.messaging.consumers.EmbedConsumr.retryLimit=2"]);
        Assert.NotEqual(0, code);
        Assert.Contains("EmbedConsumr", errors);
    }

    [Fact]
    public void Development_dependencies_are_release_named_probed_sized_and_used()
    {
        var objects = Helm.Objects("dev", [.. DevValues, "--set", "s3.persistence.size=20Gi"]);
        var sets = objects.OfType<V1StatefulSet>().ToDictionary(s => s.Metadata.Name);
        Assert.Equal(["dev-landmark-minio", "dev-landmark-qdrant", "dev-landmark-rabbitmq"], sets.Keys.Order(StringComparer.Ordinal));
        foreach (var set in sets.Values)
        {
            var container = set.Spec.Template.Spec.Containers[0];
            Assert.NotNull(container.ReadinessProbe);
            Assert.NotNull(container.LivenessProbe);
            Assert.Contains(objects.OfType<V1Service>(), s => s.Metadata.Name == set.Metadata.Name);
        }
        Assert.Equal("20Gi", sets["dev-landmark-minio"].Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"].ToString());
        Assert.Equal("5Gi", sets["dev-landmark-rabbitmq"].Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"].ToString());
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "dev-landmark").Data;
        Assert.Equal("dev-landmark-rabbitmq", config["Landmark__Messaging__RabbitMq__Host"]);
        Assert.Equal("dev-landmark-minio:9000", config["Landmark__Storage__S3__Endpoint"]);
        Assert.Equal("http://dev-landmark-qdrant:6334", config["Landmark__Index__Qdrant__Url"]);
        var qdrant = objects.OfType<V1Service>().Single(s => s.Metadata.Name == "dev-landmark-qdrant");
        Assert.Contains(qdrant.Spec.Ports, p => p.Port == 6334 && p.Name == "grpc");
        var secret = objects.OfType<V1Secret>().Single();
        Assert.Contains("@dev-landmark-rabbitmq:5672/", secret.StringData["rabbitmq-uri"], StringComparison.Ordinal);
    }

    [Fact]
    public void Helm_test_pod_checks_grpc_health_of_each_public_service()
    {
        var pod = Assert.Single(Helm.Objects("landmark").OfType<V1Pod>());
        Assert.Equal("test", pod.Metadata.Annotations["helm.sh/hook"]);
        Assert.Equal(["-addr=landmark-ingest:8080", "-addr=landmark-scorer:8080", "-addr=landmark-trainer:8080"],
            pod.Spec.Containers.Select(c => c.Args[0]).Order(StringComparer.Ordinal));
        Assert.All(pod.Spec.Containers, c => Assert.Contains("grpc-health-probe", c.Image, StringComparison.Ordinal));
        // It reaches the services: the internal NetworkPolicy admits pods of the release.
        Assert.Equal("landmark", pod.Metadata.Labels["app.kubernetes.io/part-of"]);
    }

    [Fact]
    public void Dashboard_and_alerts_render_behind_their_toggles()
    {
        var off = Helm.Objects("landmark");
        Assert.DoesNotContain(off.OfType<V1ConfigMap>(), c => c.Metadata.Name == "landmark-dashboard");
        Assert.DoesNotContain(off.OfType<CustomResource>(), r => r.Kind == "PrometheusRule");
        var on = Helm.Objects("landmark", "--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true");
        var dashboard = on.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "landmark-dashboard");
        Assert.Equal("1", dashboard.Metadata.Labels["grafana_dashboard"]);
        using var json = JsonDocument.Parse(dashboard.Data["landmark.json"]);
        Assert.Equal("landmark-platform", json.RootElement.GetProperty("uid").GetString());
        var rule = Assert.Single(on.OfType<CustomResource>(), r => r.Kind == "PrometheusRule");
        var rules = ((List<object>)((Dictionary<object, object>)((List<object>)rule.Spec["groups"]!)[0])["rules"]).Cast<Dictionary<object, object>>().ToList();
        Assert.Equal(7, rules.Count);
        var latency = rules.Single(r => (string)r["alert"] == "LandmarkRecognitionLatencyHigh");
        Assert.Contains("namespace=\"landmark\"", (string)latency["expr"], StringComparison.Ordinal);
        Assert.EndsWith("> 1", (string)latency["expr"], StringComparison.Ordinal);
        // Prometheus's own template syntax survives Helm's.
        Assert.Contains("{{ $labels.queue }}", (string)((Dictionary<object, object>)rules[0]["annotations"])["summary"], StringComparison.Ordinal);
    }

    [Fact]
    public void Every_rendered_container_has_requests_limits_and_no_privilege_escalation()
    {
        var objects = Helm.Objects("landmark", [.. DevValues, "--set", "training.cronJob.enabled=true"]);
        var pods = PodTemplates(objects).Select(t => t.Spec).Concat(objects.OfType<V1Pod>().Select(p => p.Spec))
            .Concat(objects.OfType<V1CronJob>().Select(c => c.Spec.JobTemplate.Spec.Template.Spec)).ToList();
        Assert.True(pods.Count >= 12);
        foreach (var container in pods.SelectMany(p => p.Containers))
        {
            Assert.True(container.Resources?.Requests?.ContainsKey("memory") == true, $"{container.Name}: no memory request");
            Assert.True(container.Resources?.Limits?.ContainsKey("memory") == true, $"{container.Name}: no memory limit");
            Assert.False(container.SecurityContext?.AllowPrivilegeEscalation ?? true, $"{container.Name} allows privilege escalation");
        }
    }
}
