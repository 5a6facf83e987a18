using System.Text.Json;
using System.Text.RegularExpressions;
using Landmark.Testing;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>
/// The Grafana dashboard and the PrometheusRule read only metrics that exist: <c>landmark_*</c> names are the
/// Prometheus names of instruments the code declares (OpenTelemetry's Prometheus naming: dots to underscores, the
/// unit as a suffix, <c>_total</c> on counters, <c>_bucket/_sum/_count</c> on histograms); any other name must be in
/// the chart README's table of external exporters.
/// </summary>
public partial class MetricNameTests
{
    private static readonly string Chart = HelmChartTests.Chart;

    private static readonly HashSet<string> PromQlWords = new(StringComparer.Ordinal)
    {
        "sum", "avg", "max", "min", "count", "rate", "irate", "increase", "histogram_quantile", "changes", "and", "or", "unless",
        "by", "without", "on", "ignoring", "group_left", "group_right", "abs", "clamp_min", "clamp_max", "label_values", "bool",
        "delta", "deriv", "topk", "bottomk", "offset", "vector", "scalar", "time", "absent", "le",
    };

    /// <summary>Every instrument the services and shared libraries declare, with its kind and unit.</summary>
    internal static List<(string Name, string Kind, string? Unit, string File)> Instruments()
    {
        var found = new List<(string, string, string?, string)>();
        foreach (var folder in new[] { "services", "shared" })
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, folder), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                {
                    continue;
                }
                foreach (Match m in InstrumentDeclaration().Matches(File.ReadAllText(file)))
                {
                    found.Add((m.Groups["name"].Value, m.Groups["kind"].Value, m.Groups["unit"].Success ? m.Groups["unit"].Value : null, Path.GetFileName(file)));
                }
            }
        }
        return found;
    }

    /// <summary>OpenTelemetry's Prometheus exporter's name for an instrument.</summary>
    internal static string PrometheusName(string name, string kind, string? unit)
    {
        var baseName = Regex.Replace(name, "[^a-zA-Z0-9_:]", "_");
        var suffix = unit switch
        {
            null or "" => "",
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            var u when u.StartsWith('{') && u.EndsWith('}') => "",
            var u when u.StartsWith('{') && u.EndsWith("}/s", StringComparison.Ordinal) => "_per_second",
            _ => throw new NotSupportedException($"unit '{unit}' of {name}: teach this test its Prometheus suffix"),
        };
        if (!baseName.EndsWith(suffix, StringComparison.Ordinal))
        {
            baseName += suffix;
        }
        return kind is "Counter" or "ObservableCounter" ? baseName + "_total" : baseName;
    }

    private static HashSet<string> ExportedSeries()
    {
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, kind, unit, _) in Instruments())
        {
            var prometheus = PrometheusName(name, kind, unit);
            if (kind == "Histogram")
            {
                series.UnionWith([prometheus + "_bucket", prometheus + "_sum", prometheus + "_count"]);
            }
            else
            {
                series.Add(prometheus);
            }
        }
        return series;
    }

    /// <summary>Metric names in a PromQL expression: label matchers, ranges, grouping clauses, strings and template
    /// actions removed, what remains that is no PromQL word or number.</summary>
    internal static IEnumerable<string> MetricsIn(string expr)
    {
        var text = Regex.Replace(expr, @"\{\{.*?\}\}", " 0 ");
        text = Regex.Replace(text, "\"[^\"]*\"", " ");
        text = Regex.Replace(text, @"\{[^{}]*\}", " ");
        text = Regex.Replace(text, @"\[[^\]]*\]", " ");
        text = Regex.Replace(text, @"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ");
        text = Regex.Replace(text, @"\b(label_values)\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,[^)]*\)", " $2 ");
        foreach (Match m in Identifier().Matches(text))
        {
            if (!PromQlWords.Contains(m.Value) && !m.Value.StartsWith("humanize", StringComparison.Ordinal))
            {
                yield return m.Value;
            }
        }
    }

    private static List<(string Where, string Expr)> DashboardExpressions()
    {
        var list = new List<(string, string)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Chart, "dashboards"), "*.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            void Walk(JsonElement e, string path)
            {
                switch (e.ValueKind)
                {
                    case JsonValueKind.Object:
                        foreach (var p in e.EnumerateObject())
                        {
                            if (p.Name is "expr" or "definition" && p.Value.ValueKind == JsonValueKind.String)
                            {
                                list.Add(($"{Path.GetFileName(file)}{path}", p.Value.GetString()!));
                            }
                            Walk(p.Value, $"{path}/{p.Name}");
                        }
                        break;
                    case JsonValueKind.Array:
                        var i = 0;
                        foreach (var item in e.EnumerateArray())
                        {
                            Walk(item, $"{path}/{i++}");
                        }
                        break;
                }
            }
            Walk(doc.RootElement, "");
        }
        return list;
    }

    private static List<(string Where, string Expr)> AlertExpressions()
    {
        var text = File.ReadAllText(Path.Combine(Chart, "templates", "prometheusrule.yaml"));
        var list = new List<(string, string)>();
        foreach (Match m in AlertRule().Matches(text))
        {
            var expr = m.Groups["expr"].Value.Trim();
            if (expr == "|")
            {
                expr = m.Groups["block"].Value;
            }
            list.Add((m.Groups["alert"].Value, expr));
        }
        return list;
    }

    private static HashSet<string> ExternalMetricsInReadme()
    {
        var readme = File.ReadAllText(Path.Combine(Chart, "README.md"));
        var section = readme[readme.IndexOf("From other exporters", StringComparison.Ordinal)..];
        return ExternalRow().Matches(section).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
    }

    [Fact]
    public void Duration_histograms_are_in_seconds_as_opentelemetry_conventions_ask()
    {
        var durations = Instruments().Where(i => i.Kind == "Histogram" && (i.Name.EndsWith("duration", StringComparison.Ordinal) || i.Name.EndsWith("latency", StringComparison.Ordinal))).ToList();
        Assert.NotEmpty(durations);
        Assert.All(durations, i => Assert.True(i.Unit == "s", $"{i.File}: {i.Name} is in '{i.Unit}', not seconds"));
        Assert.DoesNotContain(Instruments(), i => i.Unit == "ms");
    }

    [Fact]
    public void Instruments_the_alerts_rely_on_are_declared()
    {
        var series = ExportedSeries();
        foreach (var name in new[] { "landmark_recognize_duration_seconds_bucket", "landmark_embedder_batch_fill_ratio_sum", "landmark_messaging_queue_wait_duration_seconds_bucket", "landmark_embedder_images_total" })
        {
            Assert.Contains(name, series);
        }
    }

    [Fact]
    public void Dashboard_and_alerts_read_only_metrics_the_code_or_a_documented_exporter_exports()
    {
        var series = ExportedSeries();
        var external = ExternalMetricsInReadme();
        Assert.NotEmpty(external);
        var expressions = DashboardExpressions().Concat(AlertExpressions()).ToList();
        Assert.True(expressions.Count >= 15, $"only {expressions.Count} expressions found");
        var unknown = new List<string>();
        foreach (var (where, expr) in expressions)
        {
            var metrics = MetricsIn(expr).ToList();
            Assert.True(metrics.Count > 0, $"{where}: no metric in {expr}");
            foreach (var metric in metrics)
            {
                if (metric.StartsWith("landmark_", StringComparison.Ordinal) ? !series.Contains(metric) : !external.Contains(metric))
                {
                    unknown.Add($"{where}: {metric}");
                }
            }
        }
        Assert.Empty(unknown);
    }

    [Theory]
    [InlineData("histogram_quantile(0.99, sum by (le) (rate(landmark_recognize_duration_seconds_bucket{namespace=\"x\"}[5m]))) > 1", "landmark_recognize_duration_seconds_bucket")]
    [InlineData("sum by (queue) (rabbitmq_queue_messages_ready{queue=~\"landmark.*_error\"}) >= {{ $r.errorQueueMessages }}", "rabbitmq_queue_messages_ready")]
    [InlineData("label_values(landmark_recognize_duration_seconds_count, namespace)", "landmark_recognize_duration_seconds_count")]
    public void Metric_names_are_found_in_promql(string expr, string metric)
    {
        Assert.Equal([metric], MetricsIn(expr));
    }

    [Fact]
    public void Prometheus_names_follow_the_exporter_rules()
    {
        Assert.Equal("landmark_recognize_duration_seconds", PrometheusName("landmark.recognize.duration", "Histogram", "s"));
        Assert.Equal("landmark_embedder_images_total", PrometheusName("landmark.embedder.images", "Counter", null));
        Assert.Equal("landmark_ingest_images_total", PrometheusName("landmark.ingest.images", "Counter", "{image}"));
    }

    [GeneratedRegex(@"\.Create(?<kind>Histogram|Counter|UpDownCounter|Gauge|ObservableGauge|ObservableCounter|ObservableUpDownCounter)<[^>]+>\(\s*""(?<name>[^""]+)""(?:\s*,\s*(?:unit:\s*)?""(?<unit>[^""]*)"")?")]
    private static partial Regex InstrumentDeclaration();

    [GeneratedRegex(@"[A-Za-z_:][A-Za-z0-9_:]*")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"- alert: (?<alert>\S+)(?:\n\s+#[^\n]*)*\n\s+expr: (?<expr>[^\n]*)(?<block>(?:\n {12}[^\n]*)*)")]
    private static partial Regex AlertRule();

    [GeneratedRegex(@"^\| `([A-Za-z_:][A-Za-z0-9_:]*)` \|", RegexOptions.Multiline)]
    private static partial Regex ExternalRow();
}
