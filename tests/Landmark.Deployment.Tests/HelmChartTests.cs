using System.Text.Json;
using System.Text.RegularExpressions;
using Landmark.Contracts.Messages;
using Landmark.Testing;
using NJsonSchema;
using Xunit;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;

namespace Landmark.Deployment.Tests;

/// <summary>The Helm chart checked without the helm binary (none can be installed here): values against the schema,
/// template references against values.yaml, template syntax balance, and the chart's wiring conventions.</summary>
public partial class HelmChartTests
{
    private static readonly string Chart = Path.Combine(TestPaths.RepoRoot, "helm", "landmark");

    private static string ValuesYaml => File.ReadAllText(Path.Combine(Chart, "values.yaml"));

    private static object? Yaml(string text) => new DeserializerBuilder().Build().Deserialize<object>(text);

    /// <summary>YAML → JSON as Helm reads it: plain scalars become numbers, booleans or null; quoted ones stay strings.</summary>
    private static string ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return JsonSerializer.Serialize(Convert(stream.Documents[0].RootNode));
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

    private static async Task<ICollection<NJsonSchema.Validation.ValidationError>> ValidateAsync(string valuesYaml)
    {
        var schema = await JsonSchema.FromJsonAsync(await File.ReadAllTextAsync(Path.Combine(Chart, "values.schema.json")));
        return schema.Validate(ToJson(valuesYaml));
    }

    [Fact]
    public async Task Default_values_satisfy_the_schema()
    {
        var errors = await ValidateAsync(ValuesYaml);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Path}: {e.Kind}")));
    }

    [Theory]
    [InlineData("    replicas: 2\n    public: true\n    grpcServices: [landmark.v1.IngestService]", "    replicas: -2\n    public: true\n    grpcServices: [landmark.v1.IngestService]")]
    [InlineData("  provider: Qdrant", "  provider: Elastic")]
    [InlineData("    url: http://qdrant:6334", "    url: http://qdrant:6333")]
    [InlineData("      quantization: None", "      quantization: Binary")]
    [InlineData("      shardNumber: null", "      shardNumber: 0")]
    [InlineData("podSecurity:", "unknownSetting: 1\npodSecurity:")]
    [InlineData("      limits: {cpu: \"2\", memory: 1Gi}\n    gpu: {enabled: false, count: 1}\n    hpa: {enabled: true, minReplicas: 2, maxReplicas: 8", "      limits: {cpu: \"2\", memory: lots}\n    gpu: {enabled: false, count: 1}\n    hpa: {enabled: true, minReplicas: 2, maxReplicas: 8")]
    public async Task Invalid_values_are_rejected_by_the_schema(string original, string replacement)
    {
        Assert.Contains(original, ValuesYaml, StringComparison.Ordinal);
        var errors = await ValidateAsync(ValuesYaml.Replace(original, replacement, StringComparison.Ordinal));
        Assert.NotEmpty(errors);
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
                    if (!p.Value.TryGetProperty("description", out _) && !p.Value.TryGetProperty("$ref", out _))
                    {
                        missing.Add(path + "." + p.Name);
                    }
                    Walk(p.Value, path + "." + p.Name);
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

    [Fact]
    public void Every_values_path_used_in_the_templates_exists_in_values_yaml()
    {
        var values = Yaml(ValuesYaml);
        var missing = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "templates")))
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
    }

    [Fact]
    public void Template_actions_are_balanced()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "templates")))
        {
            var text = File.ReadAllText(file);
            Assert.Equal(text.Split("{{").Length, text.Split("}}").Length);
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
        var deployment = File.ReadAllText(Path.Combine(Chart, "templates", "deployments.yaml"));
        var config = File.ReadAllText(Path.Combine(Chart, "templates", "configmap.yaml"));
        Assert.Contains("Landmark__Hosting__GrpcPort: \"8080\"", config, StringComparison.Ordinal);
        Assert.Contains("Landmark__Hosting__HttpPort: \"8081\"", config, StringComparison.Ordinal);
        Assert.Contains("containerPort: 8080", deployment, StringComparison.Ordinal);
        Assert.Contains("containerPort: 8081", deployment, StringComparison.Ordinal);
        Assert.Contains("grpc:\n              port: 8080", deployment, StringComparison.Ordinal);
        Assert.Contains("nvidia.com/gpu: {{ $svc.gpu.count }}", deployment, StringComparison.Ordinal);
        Assert.Contains("readOnlyRootFilesystem: true", File.ReadAllText(Path.Combine(Chart, "templates", "_helpers.tpl")), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\.Values((?:\.[A-Za-z0-9_]+)+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"\{\{-?\s*(if|range|with|define)\b")]
    private static partial Regex BlockOpen();

    [GeneratedRegex(@"\{\{-?\s*end\b")]
    private static partial Regex BlockEnd();
}
