using System.Text.RegularExpressions;
using k8s.Models;
using Landmark.Testing;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>
/// The chart's routes of the public API, rendered by helm with the Ingress and the Gateway API routes on, against the
/// protos and the services' code: every gRPC service of the public protos and every <c>google.api.http</c> route reach
/// the chart service whose code implements it (its gRPC port for gRPC, its HTTP port for JSON), and the chart routes no
/// path the protos do not define. A new annotation without a route, or a route left behind, fails here.
/// </summary>
public partial class HelmApiRoutingTests
{
    private const string Release = "landmark";
    private static readonly string[] Routed = ["--set", "ingress.enabled=true", "--set", "gateway.enabled=true"];
    private static readonly string ProtoDir = Path.Combine(TestPaths.RepoRoot, "shared", "Landmark.Contracts", "Protos", "landmark", "v1");

    /// <summary>One <c>google.api.http</c> binding: the gRPC service (full name), the RPC, the verb and the path template.</summary>
    public sealed record HttpRule(string Service, string Rpc, string Verb, string Template)
    {
        /// <summary>A request path the template matches: each <c>{variable}</c> (or <c>{variable=pattern}</c>) becomes a value.</summary>
        public string SamplePath => VariablePattern().Replace(Template, "sample-1");

        public override string ToString() => $"{Verb.ToUpperInvariant()} {Template} ({Service}.{Rpc})";
    }

    /// <summary>Every HTTP binding of the public protos (additional_bindings included).</summary>
    public static IReadOnlyList<HttpRule> HttpRules()
    {
        var rules = new List<HttpRule>();
        foreach (var (service, body) in ProtoServices())
        {
            foreach (Match rpc in RpcPattern().Matches(body))
            {
                foreach (Match binding in BindingPattern().Matches(rpc.Groups["options"].Value))
                {
                    rules.Add(new HttpRule(service, rpc.Groups["name"].Value, binding.Groups["verb"].Value, binding.Groups["path"].Value));
                }
            }
        }
        return rules;
    }

    public static TheoryData<string> HttpRuleTemplates => [.. HttpRules().Select(r => r.Template).Distinct()];

    /// <summary>The services of the public protos (full name and body).</summary>
    private static IEnumerable<(string Service, string Body)> ProtoServices()
    {
        foreach (var file in Directory.EnumerateFiles(ProtoDir, "*.proto").Order(StringComparer.Ordinal))
        {
            var text = CommentPattern().Replace(File.ReadAllText(file), "");
            var package = PackagePattern().Match(text).Groups[1].Value;
            foreach (Match service in ServicePattern().Matches(text))
            {
                yield return ($"{package}.{service.Groups[1].Value}", Block(text, service.Index + service.Length - 1));
            }
        }
    }

    /// <summary>The text between the brace at <paramref name="open"/> and its matching close.</summary>
    private static string Block(string text, int open)
    {
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            depth += text[i] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                return text[(open + 1)..i];
            }
        }
        throw new FormatException("unbalanced braces in a proto");
    }

    /// <summary>Which chart service implements each gRPC service, read in the services' code: services/&lt;name&gt; maps a
    /// class (<c>MapGrpcService&lt;T&gt;</c>) that derives from the generated <c>XService.XServiceBase</c>.</summary>
    private static Dictionary<string, string> Implementers()
    {
        var implementers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(TestPaths.RepoRoot, "services")))
        {
            var sources = string.Join('\n', Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                .Select(File.ReadAllText));
            foreach (Match mapped in MapPattern().Matches(sources))
            {
                var type = mapped.Groups[1].Value;
                var declaration = Regex.Match(sources, $@"class {type}\b[^{{;]*?:\s*(\w+)\.\1Base\b");
                if (declaration.Success)
                {
                    implementers[declaration.Groups[1].Value] = Path.GetFileName(dir);
                }
            }
        }
        return implementers;
    }

    /// <summary>The chart service that implements a gRPC service of the protos (its short name's implementer).</summary>
    private static string ImplementerOf(string service)
    {
        var implementers = Implementers();
        var shortName = service[(service.LastIndexOf('.') + 1)..];
        Assert.True(implementers.TryGetValue(shortName, out var chartService), $"no service under services/ implements {service}");
        return chartService;
    }

    /// <summary>Kubernetes Ingress matching: Prefix element by element, Exact whole, ImplementationSpecific as
    /// ingress-nginx reads a path without regex (a plain string prefix).</summary>
    private static bool IngressMatches(V1HTTPIngressPath route, string path) => route.PathType switch
    {
        "Exact" => route.Path == path,
        "Prefix" => ElementPrefix(route.Path, path),
        "ImplementationSpecific" => path.StartsWith(route.Path, StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>Gateway API HTTPRoute matching: PathPrefix element by element, Exact whole.</summary>
    private static bool RouteMatches(string type, string value, string path) => type switch
    {
        "Exact" => value == path,
        "PathPrefix" => ElementPrefix(value, path),
        _ => false,
    };

    /// <summary>Prefix matching on '/'-separated elements (as Kubernetes' Prefix and Gateway API's PathPrefix): /v1/models
    /// matches /v1/models and /v1/models/x:publish, not /v1/models:live.</summary>
    private static bool ElementPrefix(string prefix, string path)
    {
        var p = prefix.TrimEnd('/').Split('/');
        var r = path.Split('/');
        return p.Length <= r.Length && p.Select((element, i) => element == r[i]).All(x => x);
    }

    private static V1Ingress HttpIngress(IReadOnlyList<object> objects) =>
        Assert.Single(objects.OfType<V1Ingress>(), i => i.Metadata.Name == $"{Release}-http");

    private static CustomResource HttpRoute(IReadOnlyList<object> objects) =>
        Assert.Single(objects.OfType<CustomResource>(), r => r.Kind == "HTTPRoute");

    private static List<Dictionary<object, object>> Rules(CustomResource route) =>
        ((List<object>)route.Spec["rules"]!).Cast<Dictionary<object, object>>().ToList();

    private static IEnumerable<(string Type, string Value)> PathMatches(Dictionary<object, object> rule) =>
        ((List<object>)rule["matches"]).Cast<Dictionary<object, object>>()
            .Select(m => (Dictionary<object, object>)m["path"])
            .Select(p => ((string)p["type"], (string)p["value"]));

    private static (string Name, int Port) Backend(Dictionary<object, object> rule)
    {
        var backend = (Dictionary<object, object>)Assert.Single((List<object>)rule["backendRefs"]);
        return ((string)backend["name"], int.Parse(Convert.ToString(backend["port"], System.Globalization.CultureInfo.InvariantCulture)!, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The port the services serve the JSON/HTTP API on, as the chart configures it, and the Service port that
    /// leads there.</summary>
    private static (int Port, string ServicePortName) HttpPort(IReadOnlyList<object> objects)
    {
        var config = Assert.Single(objects.OfType<V1ConfigMap>(), c => c.Data?.ContainsKey("Landmark__Hosting__HttpPort") == true);
        var port = int.Parse(config.Data["Landmark__Hosting__HttpPort"], System.Globalization.CultureInfo.InvariantCulture);
        var service = objects.OfType<V1Service>().First(s => s.Metadata.Name == $"{Release}-ingest");
        var servicePort = Assert.Single(service.Spec.Ports, p => p.Port == port);
        return (port, servicePort.Name);
    }

    [Fact]
    public void The_protos_define_http_routes_for_every_public_service_that_has_unary_calls()
    {
        // The parser itself: the routes the README's table lists are found (a parser that finds nothing passes nothing).
        var rules = HttpRules();
        Assert.Contains(rules, r => r is { Service: "landmark.v1.IngestService", Rpc: "GetImages", Verb: "get", Template: "/v1/images:batchGet" });
        Assert.Contains(rules, r => r is { Service: "landmark.v1.ModelService", Rpc: "PublishModel", Verb: "post", Template: "/v1/models/{version}:publish" });
        Assert.Contains(rules, r => r is { Service: "landmark.v1.TrainingService", Rpc: "CancelTraining", Template: "/v1/training/jobs/{job_id}:cancel" });
        Assert.Equal(["landmark.v1.EvaluationService", "landmark.v1.IngestService", "landmark.v1.ModelService", "landmark.v1.RecognitionService", "landmark.v1.TrainingService"],
            rules.Select(r => r.Service).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal("/v1/models/sample-1:publish", rules.Single(r => r.Rpc == "PublishModel").SamplePath);
    }

    [Theory]
    [MemberData(nameof(HttpRuleTemplates))]
    public void Every_http_route_of_the_protos_reaches_its_implementing_service_through_the_http_ingress(string template)
    {
        var objects = Helm.Objects(Release, Routed);
        var (port, portName) = HttpPort(objects);
        var ingress = HttpIngress(objects);
        var paths = Assert.Single(ingress.Spec.Rules).Http.Paths;
        foreach (var rule in HttpRules().Where(r => r.Template == template))
        {
            var sample = rule.SamplePath;
            // The most specific matching path wins (Kubernetes: the longest; ingress-nginx: the longest location).
            var route = paths.Where(p => IngressMatches(p, sample)).MaxBy(p => p.Path.Length);
            Assert.True(route is not null, $"{rule}: no path of the Ingress {ingress.Metadata.Name} matches {sample}");
            Assert.Equal($"{Release}-{ImplementerOf(rule.Service)}", route.Backend.Service.Name);
            Assert.Equal(portName, route.Backend.Service.Port.Name);
        }
        Assert.Equal(8081, port);
        Assert.Equal("HTTP", ingress.Metadata.Annotations["nginx.ingress.kubernetes.io/backend-protocol"]);
    }

    [Theory]
    [MemberData(nameof(HttpRuleTemplates))]
    public void Every_http_route_of_the_protos_reaches_its_implementing_service_through_the_http_route(string template)
    {
        var objects = Helm.Objects(Release, Routed);
        var (port, _) = HttpPort(objects);
        var route = HttpRoute(objects);
        Assert.Equal($"{Release}-http", route.Metadata.Name);
        foreach (var rule in HttpRules().Where(r => r.Template == template))
        {
            var sample = rule.SamplePath;
            var matched = Rules(route)
                .SelectMany(r => PathMatches(r).Where(m => RouteMatches(m.Type, m.Value, sample)).Select(m => (m.Value, Backend: Backend(r))))
                .MaxBy(m => m.Value.Length);
            Assert.True(matched.Value is not null, $"{rule}: no match of the HTTPRoute covers {sample}");
            Assert.Equal(($"{Release}-{ImplementerOf(rule.Service)}", port), matched.Backend);
        }
    }

    [Fact]
    public void The_chart_routes_no_http_path_the_protos_do_not_define()
    {
        var objects = Helm.Objects(Release, Routed);
        var rules = HttpRules();
        foreach (var path in Assert.Single(HttpIngress(objects).Spec.Rules).Http.Paths)
        {
            var served = rules.Where(r => IngressMatches(path, r.SamplePath)).ToList();
            Assert.True(served.Count > 0, $"the Ingress routes {path.Path}, which no google.api.http route of the protos matches");
            Assert.All(served, r => Assert.Equal($"{Release}-{ImplementerOf(r.Service)}", path.Backend.Service.Name));
        }
        foreach (var rule in Rules(HttpRoute(objects)))
        {
            foreach (var (type, value) in PathMatches(rule))
            {
                var served = rules.Where(r => RouteMatches(type, value, r.SamplePath)).ToList();
                Assert.True(served.Count > 0, $"the HTTPRoute matches {value}, which no google.api.http route of the protos matches");
                Assert.All(served, r => Assert.Equal($"{Release}-{ImplementerOf(r.Service)}", Backend(rule).Name));
            }
        }
    }

    [Fact]
    public void Every_grpc_service_of_the_public_protos_reaches_its_implementing_service_through_the_grpc_ingress_and_route()
    {
        var objects = Helm.Objects(Release, Routed);
        var grpcIngress = Assert.Single(objects.OfType<V1Ingress>(), i => i.Metadata.Name == Release);
        var grpcRoute = Assert.Single(objects.OfType<CustomResource>(), r => r.Kind == "GRPCRoute");
        var services = ProtoServices().Select(s => s.Service).ToList();
        Assert.Contains("landmark.v1.TrainingService", services);
        foreach (var service in services)
        {
            var implementer = $"{Release}-{ImplementerOf(service)}";
            var path = Assert.Single(grpcIngress.Spec.Rules).Http.Paths.SingleOrDefault(p => p.Path == $"/{service}/");
            Assert.True(path is not null, $"the gRPC Ingress does not route {service} (services.<name>.grpcServices)");
            Assert.Equal((implementer, "grpc"), (path.Backend.Service.Name, path.Backend.Service.Port.Name));
            var rule = Rules(grpcRoute).SingleOrDefault(r => ((List<object>)r["matches"]).Cast<Dictionary<object, object>>()
                .Any(m => (string)((Dictionary<object, object>)m["method"])["service"] == service));
            Assert.True(rule is not null, $"the GRPCRoute does not route {service} (services.<name>.grpcServices)");
            Assert.Equal((implementer, 8080), Backend(rule));
        }
    }

    [Fact]
    public void Custom_verb_paths_are_implementation_specific_because_ingress_nginx_refuses_colons_in_prefix_paths()
    {
        foreach (var path in Assert.Single(HttpIngress(Helm.Objects(Release, Routed)).Spec.Rules).Http.Paths)
        {
            // ingress-nginx's strict path validation: Prefix and Exact paths hold only letters, digits, '/', '_' and '-'.
            Assert.Equal(StrictPath().IsMatch(path.Path) ? "Prefix" : "ImplementationSpecific", path.PathType);
        }
    }

    [Fact]
    public void The_public_pods_accept_the_http_port_from_the_ingress_namespaces_only_while_it_is_routed()
    {
        static List<string> PublicPorts(IReadOnlyList<object> objects) =>
            Assert.Single(objects.OfType<V1NetworkPolicy>(), p => p.Metadata.Name == $"{Release}-public")
                .Spec.Ingress.SelectMany(i => i.Ports).Select(p => p.Port.Value).ToList();

        Assert.Equal(["8080", "8081"], PublicPorts(Helm.Objects(Release, Routed)));
        Assert.Equal(["8080", "8081"], PublicPorts(Helm.Objects(Release, "--set", "gateway.enabled=true")));
        Assert.Equal(["8080"], PublicPorts(Helm.Objects(Release)));
        var grpcOnly = Helm.Objects(Release, [.. Routed, "--set", "ingress.http.enabled=false", "--set", "gateway.http.enabled=false"]);
        Assert.Equal(["8080"], PublicPorts(grpcOnly));
        Assert.DoesNotContain(grpcOnly.OfType<V1Ingress>(), i => i.Metadata.Name == $"{Release}-http");
        Assert.DoesNotContain(grpcOnly.OfType<CustomResource>(), r => r.Kind == "HTTPRoute");
        Assert.Single(grpcOnly.OfType<V1Ingress>());
    }

    [Fact]
    public void Mutual_tls_refuses_to_route_the_cleartext_json_api()
    {
        string[] mtls = ["--set", "tls.enabled=true", "--set", "tls.requireClientCertificate=true", "--set", "tls.secretName=landmark-tls"];
        var (code, _, errors) = Helm.Try(Release, [.. Helm.Keys, .. mtls, .. Routed]);
        Assert.NotEqual(0, code);
        Assert.Contains("set ingress.http.enabled=false and gateway.http.enabled=false", errors, StringComparison.Ordinal);
        var grpcOnly = Helm.Objects(Release, [.. mtls, .. Routed, "--set", "ingress.http.enabled=false", "--set", "gateway.http.enabled=false"]);
        Assert.Single(grpcOnly.OfType<V1Ingress>());
    }

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex VariablePattern();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex CommentPattern();

    [GeneratedRegex(@"^package\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex PackagePattern();

    [GeneratedRegex(@"\bservice\s+(\w+)\s*\{")]
    private static partial Regex ServicePattern();

    [GeneratedRegex(@"\brpc\s+(?<name>\w+)\s*\([^)]*\)\s*returns\s*\([^)]*\)\s*(?:;|\{(?<options>(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\})")]
    private static partial Regex RpcPattern();

    [GeneratedRegex(@"\b(?<verb>get|post|put|delete|patch)\s*:\s*""(?<path>[^""]+)""")]
    private static partial Regex BindingPattern();

    [GeneratedRegex(@"MapGrpcService<(\w+)>")]
    private static partial Regex MapPattern();

    [GeneratedRegex(@"^/[A-Za-z0-9/_-]*$")]
    private static partial Regex StrictPath();
}
