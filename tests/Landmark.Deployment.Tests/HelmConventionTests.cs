using System.Text.RegularExpressions;
using Xunit;
using YamlDotNet.Serialization;
using static Landmark.Deployment.Tests.HelmChartTests;

namespace Landmark.Deployment.Tests;

/// <summary>The conventions of well-kept charts, read in the templates' text (no helm binary here to render them).</summary>
public partial class HelmConventionTests
{
    private static Dictionary<object, object> Values => (Dictionary<object, object>)new DeserializerBuilder().Build().Deserialize<object>(ValuesYaml)!;

    private static Dictionary<object, object> Map(object node, params string[] path)
    {
        foreach (var segment in path)
        {
            node = ((Dictionary<object, object>)node)[segment];
        }
        return (Dictionary<object, object>)node;
    }

    [Fact]
    public void Required_authentication_without_keys_fails_the_install_with_a_message_naming_the_values()
    {
        var helpers = Template("_helpers.tpl");
        var validate = Regex.Match(helpers, @"define ""landmark.validate"".*?\{\{- end -\}\}\s*\{\{/\*", RegexOptions.Singleline).Value;
        Assert.Contains("if and .Values.auth.required (not .Values.auth.existingSecret)", validate, StringComparison.Ordinal);
        Assert.Contains("if not .Values.auth.apiKeys", validate, StringComparison.Ordinal);
        Assert.Contains("if not .Values.auth.internalKeys", validate, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Matches(validate, @"fail ""auth\.required is true but no (API|internal) key is set: set auth\.(apiKeys|internalKeys)\[0\].*auth\.existingSecret").Count);
        // Rendered on every install, whatever is enabled.
        Assert.Contains("include \"landmark.validate\" .", Template("validate.yaml"), StringComparison.Ordinal);
        Assert.DoesNotContain("{{- if", Template("validate.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Full_name_drops_the_chart_name_when_the_release_already_holds_it_and_honours_the_overrides()
    {
        var helpers = Template("_helpers.tpl");
        var fullname = Regex.Match(helpers, @"define ""landmark.fullname"".*?\n\{\{- end -\}\}", RegexOptions.Singleline).Value;
        Assert.Contains("if .Values.fullnameOverride", fullname, StringComparison.Ordinal);
        Assert.Contains("$name := default .Chart.Name .Values.nameOverride", fullname, StringComparison.Ordinal);
        Assert.Contains("if contains $name .Release.Name", fullname, StringComparison.Ordinal);
        Assert.DoesNotContain("\"%s-landmark\"", fullname, StringComparison.Ordinal);
        // Every object name of a template goes through the full name (no bare names that collide across releases).
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "templates"), "*.yaml", SearchOption.AllDirectories))
        {
            foreach (Match m in MetadataName().Matches(File.ReadAllText(file)))
            {
                Assert.True(m.Groups[1].Value.Contains("landmark.fullname", StringComparison.Ordinal) || m.Groups[1].Value.Contains("$fullName", StringComparison.Ordinal) || m.Groups[1].Value.Contains("$fullname", StringComparison.Ordinal)
                    || m.Groups[1].Value.Contains("landmark.serviceAccountName", StringComparison.Ordinal) || m.Groups[1].Value.Contains("landmark.secretName", StringComparison.Ordinal),
                    $"{Path.GetFileName(file)}: name {m.Groups[1].Value} is not derived from the release's full name");
            }
        }
    }

    [Fact]
    public void Common_labels_carry_the_app_version()
    {
        var labels = Regex.Match(Template("_helpers.tpl"), @"define ""landmark.labels"".*?end", RegexOptions.Singleline).Value;
        Assert.Contains("app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}", labels, StringComparison.Ordinal);
        Assert.Contains("app.kubernetes.io/managed-by", labels, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deployments.yaml", "serviceAccountName: {{ include \"landmark.serviceAccountName\" $ }}")]
    [InlineData("deployments.yaml", "automountServiceAccountToken: {{ $.Values.serviceAccount.automountServiceAccountToken }}")]
    [InlineData("deployments.yaml", "affinity:")]
    [InlineData("deployments.yaml", "topologySpreadConstraints:")]
    [InlineData("deployments.yaml", "priorityClassName:")]
    [InlineData("deployments.yaml", "$.Values.podAnnotations")]
    [InlineData("deployments.yaml", "$.Values.podLabels")]
    [InlineData("deployments.yaml", "$.Values.extraEnv")]
    [InlineData("deployments.yaml", "$.Values.extraVolumes")]
    [InlineData("deployments.yaml", "$.Values.extraVolumeMounts")]
    [InlineData("deployments.yaml", "include \"landmark.checksums\" $")]
    [InlineData("training.yaml", "serviceAccountName: {{ include \"landmark.serviceAccountName\" . }}")]
    [InlineData("training.yaml", ".Values.extraEnv")]
    [InlineData("training.yaml", ".Values.extraVolumes")]
    [InlineData("_helpers.tpl", "checksum/config: {{ include (print .Template.BasePath \"/configmap.yaml\") . | sha256sum }}")]
    [InlineData("_helpers.tpl", "checksum/secret: {{ include (print .Template.BasePath \"/secret.yaml\") . | sha256sum }}")]
    [InlineData("serviceaccount.yaml", "automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}")]
    public void Pods_follow_the_chart_conventions(string template, string expected)
    {
        Assert.Contains(expected, Template(template), StringComparison.Ordinal);
    }

    [Fact]
    public void Service_account_token_is_not_mounted_by_default()
    {
        var sa = Map(Values, "serviceAccount");
        Assert.Equal("true", sa["create"]);
        Assert.Equal("false", sa["automountServiceAccountToken"]);
    }

    [Fact]
    public void Gpu_requests_use_the_configured_resource_name_never_a_literal()
    {
        Assert.Equal("nvidia.com/gpu", Map(Values, "gpuNodePool")["resourceName"]);
        foreach (var file in new[] { "deployments.yaml", "training.yaml" })
        {
            var text = Template(file);
            Assert.DoesNotContain("nvidia.com/gpu:", text, StringComparison.Ordinal);
            Assert.Matches(@"\{\{ (\$gpuResource|include ""landmark.gpuResourceName"" [^}]+) \}\}: \{\{ [^}]*gpu\.count \}\}", text);
        }
        Assert.Contains("default .root.Values.gpuNodePool.resourceName .gpu.resourceName", Template("_helpers.tpl"), StringComparison.Ordinal);
    }

    [Fact]
    public void Disruption_budgets_default_to_max_unavailable_and_refuse_a_min_available_that_blocks_drains()
    {
        foreach (var (name, svc) in Map(Values, "services"))
        {
            var pdb = Map(svc, "pdb");
            Assert.False(pdb.ContainsKey("minAvailable"), $"services.{name}.pdb sets minAvailable");
            Assert.Equal("1", pdb["maxUnavailable"]);
        }
        var deployment = Template("deployments.yaml");
        Assert.Contains("maxUnavailable: {{ default 1 $svc.pdb.maxUnavailable }}", deployment, StringComparison.Ordinal);
        Assert.Contains("fail (printf \"services.%s.pdb.minAvailable=%v with at least %d replica(s) would block every node drain", Template("_helpers.tpl"), StringComparison.Ordinal);
    }

    [Fact]
    public void Autoscaled_deployments_carry_no_replicas()
    {
        var deployment = Template("deployments.yaml");
        var replicas = deployment.IndexOf("  replicas:", StringComparison.Ordinal);
        var guard = deployment.LastIndexOf("{{- if not (or $svc.hpa.enabled (and $svc.keda.enabled $svc.queue)) }}", replicas, StringComparison.Ordinal);
        Assert.True(guard > 0 && replicas - guard < 80, "spec.replicas is not guarded by the HPA/KEDA condition");
        Assert.Single(Regex.Matches(deployment, @"^\s+replicas:", RegexOptions.Multiline));
    }

    [Fact]
    public void Training_job_survives_upgrades_is_no_hook_and_cleans_up_after_itself()
    {
        var training = Template("training.yaml");
        var job = training[training.IndexOf("kind: Job", StringComparison.Ordinal)..training.IndexOf("kind: CronJob", StringComparison.Ordinal)];
        Assert.DoesNotContain("Release.Revision", training, StringComparison.Ordinal);
        Assert.DoesNotContain("helm.sh/hook", training, StringComparison.Ordinal);
        Assert.Contains("helm.sh/resource-policy: keep", job, StringComparison.Ordinal);
        Assert.Contains("ttlSecondsAfterFinished: {{ .Values.training.job.ttlSecondsAfterFinished }}", job, StringComparison.Ordinal);
        Assert.Contains("-train-{{ $hash }}", job, StringComparison.Ordinal);
        // The hash covers the whole immutable pod template (labels with the chart version included) and runId.
        Assert.Contains("$template := include \"landmark.trainingJobTemplate\" .", training, StringComparison.Ordinal);
        Assert.Contains("$hash := printf \"%s/%v/%v\" $template .Values.training.backoffLimit .Values.training.job.runId | sha256sum", training, StringComparison.Ordinal);
        Assert.Contains("template:\n    {{- $template | nindent 4 }}", job, StringComparison.Ordinal);
        // No checksum annotations: a configuration change must not restart a running training.
        Assert.DoesNotContain("landmark.checksums", training, StringComparison.Ordinal);
        // The trainer's job id is the Job's name, so a retried pod resumes its checkpoint.
        Assert.Contains("fieldPath: metadata.labels['job-name']", training, StringComparison.Ordinal);
    }

    [Fact]
    public void Development_dependencies_are_named_by_the_release_probed_and_sized_from_values()
    {
        var deps = Template("dependencies.yaml");
        Assert.Contains("$fullName := printf \"%s-%s\" (include \"landmark.fullname\" $) .name", deps, StringComparison.Ordinal);
        Assert.Contains("readinessProbe:", deps, StringComparison.Ordinal);
        Assert.Contains("livenessProbe:", deps, StringComparison.Ordinal);
        Assert.Contains("storage: {{ .persistence.size }}", deps, StringComparison.Ordinal);
        Assert.DoesNotContain("5Gi", deps, StringComparison.Ordinal);
        foreach (var path in new[] { new[] { "rabbitmq" }, ["s3"], ["index", "qdrant"] })
        {
            var persistence = Map(Map(Values, path), "persistence");
            Assert.Matches(@"^[0-9]+Gi$", (string)persistence["size"]);
        }
        Assert.Equal(3, Regex.Matches(deps, @"""readiness"" \(dict ""(exec|httpGet)""").Count);
        // The services find them under those names.
        var helpers = Template("_helpers.tpl");
        Assert.Contains("{{ include \"landmark.fullname\" . }}-rabbitmq", helpers, StringComparison.Ordinal);
        Assert.Contains("{{ include \"landmark.fullname\" . }}-minio:9000", helpers, StringComparison.Ordinal);
        // Qdrant's gRPC port: the official client.
        Assert.Contains("http://{{ include \"landmark.fullname\" . }}-qdrant:6334", helpers, StringComparison.Ordinal);
        Assert.Contains("include \"landmark.rabbitmqHost\"", Template("configmap.yaml"), StringComparison.Ordinal);
        Assert.Contains("include \"landmark.rabbitmqHost\"", Template("secret.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Helm_test_hook_probes_grpc_health_of_each_public_service_through_its_service()
    {
        var test = File.ReadAllText(Path.Combine(Chart, "templates", "tests", "grpc-health.yaml"));
        Assert.Contains("helm.sh/hook: test", test, StringComparison.Ordinal);
        Assert.Contains("if and $svc.enabled $svc.public", test, StringComparison.Ordinal);
        Assert.Contains("-addr={{ include \"landmark.fullname\" $ }}-{{ $name }}:8080", test, StringComparison.Ordinal);
        Assert.Contains("grpc-health-probe", (string)Map(Values, "tests")["image"], StringComparison.Ordinal);
    }

    [Fact]
    public void Notes_tell_how_to_train_and_evaluate()
    {
        var notes = Template("NOTES.txt");
        Assert.Contains("services/cli -- evaluate --dataset", notes, StringComparison.Ordinal);
        Assert.Contains("services/cli -- train --dataset", notes, StringComparison.Ordinal);
        Assert.Contains("create job --from=cronjob/", notes, StringComparison.Ordinal);
        Assert.Contains("helm test", notes, StringComparison.Ordinal);
        Assert.Contains("LANDMARK_SCORER_SERVER", notes, StringComparison.Ordinal);
    }

    /// <summary>Maps of arbitrary keys (labels, annotations, selectors): one row in the table.</summary>
    private static readonly HashSet<string> FreeFormMaps = ["gpuNodePool.nodeSelector", "ingress.annotations", "ingress.http.annotations", "grafanaDashboard.labels"];

    [Fact]
    public void Chart_readme_lists_every_value_and_the_gpu_trainer_build()
    {
        var readme = File.ReadAllText(Path.Combine(Chart, "README.md"));
        var missing = new List<string>();
        void Walk(object? node, string path)
        {
            if (node is Dictionary<object, object> { Count: > 0 } map && !FreeFormMaps.Contains(path))
            {
                foreach (var (key, value) in map)
                {
                    if (path == "services")
                    {
                        Walk(value, "services.<name>");
                        continue;
                    }
                    Walk(value, path.Length == 0 ? (string)key : $"{path}.{key}");
                }
                return;
            }
            if (!readme.Contains($"| `{path}` |", StringComparison.Ordinal))
            {
                missing.Add(path);
            }
        }
        Walk(Values, "");
        Assert.Empty(missing);
        Assert.Contains("--build-arg TORCH_PACKAGE=TorchSharp-cuda-linux", readme, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_config_map_carries_the_grafana_sidecar_label_behind_a_toggle()
    {
        var dashboard = Template("dashboard.yaml");
        Assert.StartsWith("{{- if .Values.grafanaDashboard.enabled }}", dashboard, StringComparison.Ordinal);
        Assert.Contains(".Files.Glob \"dashboards/*.json\"", dashboard, StringComparison.Ordinal);
        Assert.Equal("1", Map(Values, "grafanaDashboard", "labels")["grafana_dashboard"]);
        Assert.StartsWith("{{- if .Values.prometheusRule.enabled }}", Template("prometheusrule.yaml"), StringComparison.Ordinal);
        Assert.Equal("false", Map(Values, "prometheusRule")["enabled"]);
    }

    [Fact]
    public void Alerts_cover_the_platform_failure_modes()
    {
        var rules = Template("prometheusrule.yaml");
        foreach (var alert in new[] { "LandmarkErrorQueueNotEmpty", "LandmarkQueueWaitHigh", "LandmarkRecognitionLatencyHigh", "LandmarkEmbedderBatchFillLow", "LandmarkGpuSaturated", "LandmarkRolloutStuck", "LandmarkTrainingJobFailed" })
        {
            Assert.Contains($"- alert: {alert}", rules, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Services_log_json_with_resource_attributes_from_the_downward_api()
    {
        Assert.Equal("json", Map(Values, "config")["logFormat"]);
        Assert.Contains("Logging__Console__FormatterName: {{ .Values.config.logFormat | quote }}", Template("configmap.yaml"), StringComparison.Ordinal);
        var helpers = Template("_helpers.tpl");
        foreach (var field in new[] { "fieldPath: metadata.name", "fieldPath: spec.nodeName", "fieldPath: metadata.namespace" })
        {
            Assert.Contains(field, helpers, StringComparison.Ordinal);
        }
        Assert.Contains("service.version=%s,deployment.environment=%s,k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME)", helpers, StringComparison.Ordinal);
        // The downward variables are defined before OTEL_RESOURCE_ATTRIBUTES refers to them.
        Assert.True(helpers.IndexOf("- name: K8S_POD_NAME", StringComparison.Ordinal) < helpers.IndexOf("- name: OTEL_RESOURCE_ATTRIBUTES", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^metadata:\n  name: (.+)$", RegexOptions.Multiline)]
    private static partial Regex MetadataName();
}
