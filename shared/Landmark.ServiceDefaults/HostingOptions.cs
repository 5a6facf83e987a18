using System.ComponentModel.DataAnnotations;

namespace Landmark.ServiceDefaults;

/// <summary>Network endpoints of a service. Bound from <c>Landmark:Hosting</c>.</summary>
public sealed class HostingOptions
{
    public const string SectionName = "Landmark:Hosting";

    /// <summary>gRPC (HTTP/2 cleartext) port: public and internal APIs, gRPC health, reflection.</summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = 8080;

    /// <summary>HTTP/1.1 port: <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>, the JSON/HTTP API (<c>/v1/...</c>, gRPC JSON
    /// transcoding; also served on the gRPC port over HTTP/2) and its OpenAPI document <c>/openapi/v1.json</c>. 0 disables it.</summary>
    [Range(0, 65535)]
    public int HttpPort { get; set; } = 8081;

    /// <summary>Listen on every interface (containers) or loopback only (a developer's machine).</summary>
    public bool ListenOnAnyAddress { get; set; } = true;

    /// <summary>Largest gRPC message the public services accept (an image upload or a recognition query in one
    /// message; 20 MiB, as the large public image APIs allow). A larger one is refused with <c>RESOURCE_EXHAUSTED</c>
    /// before it is decoded. Client-streaming uploads (<c>UploadImageStream</c>, <c>ImportModel</c>) are capped per
    /// chunk, not in total.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxReceiveMessageBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Largest gRPC message between the platform's services: what the internal services
    /// (<c>landmark.internal.v1.*</c>) accept, what the platform's clients accept, and what any service sends.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxInternalMessageBytes { get; set; } = 64 * 1024 * 1024;
}

/// <summary>Where the other services are. Bound from <c>Landmark:Endpoints</c>; values are gRPC base URLs
/// (<c>http://host:port</c>), or resolver addresses whose every replica gets calls round-robin: <c>dns:///host:port</c>
/// (a headless Kubernetes Service) or <c>static:///host1:port1,host2:port2</c>.</summary>
public sealed class ServiceEndpointsOptions
{
    public const string SectionName = "Landmark:Endpoints";

    public string Ingest { get; set; } = "http://localhost:8080";
    public string Embedder { get; set; } = "http://localhost:8080";
    public string Retrieval { get; set; } = "http://localhost:8080";

    /// <summary>Deadline for one internal call.</summary>
    [Range(1, 3600)]
    public int CallTimeoutSeconds { get; set; } = 30;

    /// <summary>The endpoint settings that are not a usable address.</summary>
    public IReadOnlyList<string> InvalidAddresses()
    {
        var invalid = new List<string>();
        foreach (var (name, value) in new[] { ("Ingest", Ingest), ("Embedder", Embedder), ("Retrieval", Retrieval) })
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "dns" or "static"))
            {
                invalid.Add(name);
                continue;
            }
            if (uri.Scheme == "static")
            {
                try
                {
                    GrpcClientExtensions.StaticReplicas(uri);
                }
                catch (FormatException)
                {
                    invalid.Add(name);
                }
            }
        }
        return invalid;
    }
}
