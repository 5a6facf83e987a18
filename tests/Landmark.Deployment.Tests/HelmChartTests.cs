using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using Landmark.Contracts.Messages;
using Landmark.Testing;
using Xunit;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;

namespace Landmark.Deployment.Tests;

/// <summary>The Helm chart checked without the helm binary (none can be installed here): values against the schema
/// (draft-07 with its if/then rules, as Helm evaluates it), template references against values.yaml, template syntax
/// balance, and the chart's wiring conventions.</summary>
public partial class HelmChartTests
{
    internal static readonly string Chart = Path.Combine(TestPaths.RepoRoot, "helm", "landmark");

    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(File.ReadAllText(Path.Combine(Chart, "values.schema.json"))));

    internal static string ValuesYaml => File.ReadAllText(Path.Combine(Chart, "values.yaml"));

    private static string DevValuesYaml => File.ReadAllText(Path.Combine(Chart, "ci", "dev-values.yaml"));

    internal static string Template(string name) => File.ReadAllText(Path.Combine(Chart, "templates", name));

    private static object? Yaml(string text) => new DeserializerBuilder().Build().Deserialize<object>(text);

    /// <summary>YAML → JSON as Helm reads it: plain scalars become numbers, booleans or null; quoted ones stay strings.</summary>
    private static object? ToObject(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode);
    }

    private static object? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => Convert(kv.Value)),
        YamlSequenceNode seq => seq.Children.Select(Convert).ToList(),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } scalar => scalar.Value switch
        {
            null or "null" or "~" or "" => null,
            "true" => true,
            "false" => false,
            var v when long.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var l) => l,
            var v when double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) => d,
            var v => v,
        },
        YamlScalarNode scalar => scalar.Value,
        _ => throw new InvalidDataException($"unexpected YAML node {node.NodeType}"),
    };

    /// <summary>Helm's coalescing of -f files over values.yaml: maps merge key by key, anything else replaces.</summary>
    private static object? Coalesce(object? baseValue, object? overlay)
    {
        if (baseValue is Dictionary<string, object?> b && overlay is Dictionary<string, object?> o)
        {
            var merged = new Dictionary<string, object?>(b);
            foreach (var (key, value) in o)
            {
                merged[key] = merged.TryGetValue(key, out var existing) ? Coalesce(existing, value) : value;
            }
            return merged;
        }
        return overlay;
    }

    private static List<string> Validate(params string[] yamlFiles)
    {
        object? values = null;
        foreach (var yaml in yamlFiles)
        {
            values = values is null ? ToObject(yaml) : Coalesce(values, ToObject(yaml));
        }
        using var document = JsonDocument.Parse(JsonSerializer.Serialize(values));
        var result = Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid
            ? []
            // Failures inside a passing "not" are how it passes: they are not errors of the values.
            : (result.Details ?? []).Where(d => d.Errors is { Count: > 0 } && !d.EvaluationPath.ToString().Contains("/not", StringComparison.Ordinal)).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key} {e.Value}")).DefaultIfEmpty("invalid").ToList();
    }

    [Fact]
    public void Default_values_are_refused_while_auth_is_required_and_no_key_is_given()
    {
        var errors = Validate(ValuesYaml);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.StartsWith("/auth", e, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("auth:\n  apiKeys: [public-api-key-00001]\n  internalKeys: [internal-key-000001]\n")]
    [InlineData("auth:\n  existingSecret: landmark-credentials\n")]
    [InlineData("auth:\n  required: false\n")]
    public void Values_with_keys_an_existing_secret_or_no_authentication_satisfy_the_schema(string overrides)
    {
        var errors = Validate(ValuesYaml, overrides);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Theory]
    [InlineData("auth:\n  apiKeys: [public-api-key-00001]\n")]
    [InlineData("auth:\n  internalKeys: [internal-key-000001]\n")]
    [InlineData("auth:\n  apiKeys: [short]\n  internalKeys: [internal-key-000001]\n")]
    public void Required_authentication_needs_a_public_and_an_internal_key_of_16_characters(string overrides)
    {
        Assert.NotEmpty(Validate(ValuesYaml, overrides));
    }

    [Fact]
    public void Development_values_of_the_chart_testing_folder_satisfy_the_schema()
    {
        var errors = Validate(ValuesYaml, DevValuesYaml);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void Schema_accepts_global_values_of_a_parent_chart()
    {
        var keys = "auth:\n  existingSecret: s\n";
        Assert.Empty(Validate(ValuesYaml, keys, "global:\n  imageRegistry: registry.example\n  storageClass: fast\n"));
        // Unknown top-level values are still refused.
        Assert.NotEmpty(Validate(ValuesYaml, keys, "globals: {}\n"));
    }

    [Theory]
    [InlineData("services:\n  ingest:\n    replicas: -2\n")]
    [InlineData("index:\n  provider: Elastic\n")]
    [InlineData("unknownSetting: 1\n")]
    [InlineData("services:\n  ingest:\n    resources:\n      limits: {cpu: \"2\", memory: lots}\n")]
    [InlineData("services:\n  embedder:\n    pdb: {enabled: true, maxUnavailable: 1, minAvailable: 0}\n")]
    [InlineData("gpuNodePool:\n  resourceName: gpu\n")]
    [InlineData("config:\n  logFormat: xml\n")]
    [InlineData("rabbitmq:\n  persistence: {size: lots}\n")]
    [InlineData("serviceAccount:\n  automountServiceAccountToken: maybe\n")]
    [InlineData("index:\n  qdrant:\n    url: http://qdrant:6333\n")]
    [InlineData("index:\n  qdrant:\n    collection:\n      quantization: Binary\n")]
    [InlineData("index:\n  qdrant:\n    collection:\n      shardNumber: 0\n")]
    public void Invalid_values_are_rejected_by_the_schema(string overrides)
    {
        Assert.NotEmpty(Validate(ValuesYaml, "auth:\n  existingSecret: s\n", overrides));
    }

    [Fact]
    public void Every_value_has_a_description_in_the_schema()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Chart, "values.schema.json")));
        var missing = new List<string>();
        void Walk(JsonElement node, string path)
        {
            if (node.TryGetProperty("properties", out var props))
            {
                foreach (var p in props.EnumerateObject())
                {
                    if (!p.Value.TryGetProperty("description", out _) && !p.Value.TryGetProperty("$ref", out _) && !path.EndsWith(".if", StringComparison.Ordinal) && !path.EndsWith(".then", StringComparison.Ordinal))
                    {
                        missing.Add(path + "." + p.Name);
                    }
                    Walk(p.Value, path + "." + p.Name);
                }
            }
            foreach (var conditional in new[] { "if", "then" })
            {
                if (node.TryGetProperty(conditional, out var sub))
                {
                    Walk(sub, path + "." + conditional);
                }
            }
        }
        Walk(schema.RootElement, "");
        foreach (var def in schema.RootElement.GetProperty("definitions").EnumerateObject())
        {
            Walk(def.Value, "#" + def.Name);
        }
        Assert.Empty(missing);
    }

    /// <summary>Value paths a template may read without values.yaml defining them: optional per-service overrides
    /// (documented in the schema and the chart README).</summary>
    private static readonly string[] OptionalPerServiceValues =
        ["affinity", "topologySpreadConstraints", "podAnnotations", "podLabels", "priorityClassName", "extraEnv"];

    [Fact]
    public void Every_values_path_used_in_the_templates_exists_in_values_yaml()
    {
        var values = Yaml(ValuesYaml);
        var missing = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "templates"), "*", SearchOption.AllDirectories))
        {
            foreach (Match m in ValuesPath().Matches(File.ReadAllText(file)))
            {
                object? node = values;
                foreach (var segment in m.Groups[1].Value.Split('.', StringSplitOptions.RemoveEmptyEntries))
                {
                    node = node is Dictionary<object, object> map && map.TryGetValue(segment, out var next) ? next : null;
                    if (node is null)
                    {
                        missing.Add($"{Path.GetFileName(file)}: .Values{m.Groups[1].Value}");
                        break;
                    }
                }
            }
        }
        Assert.Empty(missing);
        // Per-service reads ($svc.x) are either required by the schema's service definition or optional overrides.
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Chart, "values.schema.json")));
        var serviceProperties = schema.RootElement.GetProperty("definitions").GetProperty("service").GetProperty("properties")
            .EnumerateObject().Select(p => p.Name).ToHashSet();
        var deployment = Template("deployments.yaml");
        foreach (Match m in ServicePath().Matches(deployment))
        {
            Assert.Contains(m.Groups[1].Value, serviceProperties);
        }
        Assert.All(OptionalPerServiceValues, v => Assert.Contains($"$svc.{v}", deployment, StringComparison.Ordinal));
    }

    [Fact]
    public void Template_actions_are_balanced()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "templates"), "*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            Assert.True(text.Split("{{").Length == text.Split("}}").Length, $"{Path.GetFileName(file)}: unbalanced braces");
            var opens = BlockOpen().Matches(text).Count;
            var ends = BlockEnd().Matches(text).Count;
            Assert.True(opens == ends, $"{Path.GetFileName(file)}: {opens} blocks opened, {ends} ended");
        }
    }

    [Fact]
    public void Service_queues_in_values_are_the_platform_queue_names()
    {
        var services = (Dictionary<object, object>)((Dictionary<object, object>)Yaml(ValuesYaml)!)["services"];
        foreach (var (name, settings) in services)
        {
            var queue = (string)((Dictionary<object, object>)settings)["queue"];
            Assert.True(queue.Length == 0 || QueueNames.All.Contains(queue), $"{name}: unknown queue {queue}");
        }
    }

    [Fact]
    public void Chart_wires_probes_and_ports_to_the_service_configuration()
    {
        var deployment = Template("deployments.yaml");
        var config = Template("configmap.yaml");
        Assert.Contains("Landmark__Hosting__GrpcPort: \"8080\"", config, StringComparison.Ordinal);
        Assert.Contains("Landmark__Hosting__HttpPort: \"8081\"", config, StringComparison.Ordinal);
        Assert.Contains("containerPort: 8080", deployment, StringComparison.Ordinal);
        Assert.Contains("containerPort: 8081", deployment, StringComparison.Ordinal);
        Assert.Contains("grpc:\n              port: 8080", deployment, StringComparison.Ordinal);
        Assert.Contains("readOnlyRootFilesystem: true", Template("_helpers.tpl"), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\.Values((?:\.[A-Za-z0-9_]+)+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"\$svc\.([A-Za-z0-9_]+)")]
    private static partial Regex ServicePath();

    [GeneratedRegex(@"\{\{-?\s*(if|range|with|define)\b")]
    private static partial Regex BlockOpen();

    [GeneratedRegex(@"\{\{-?\s*end\b")]
    private static partial Regex BlockEnd();
}
