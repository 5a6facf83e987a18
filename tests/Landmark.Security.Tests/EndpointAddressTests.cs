using Landmark.ServiceDefaults;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>Internal endpoint addresses: plain URLs, DNS names whose every record is a replica, fixed replica lists;
/// anything else is refused at start-up rather than at the first call.</summary>
public sealed class EndpointAddressTests
{
    [Fact]
    public void A_static_address_lists_every_replica()
    {
        var replicas = GrpcClientExtensions.StaticReplicas(new Uri("static:///10.0.0.5:8080,embedder-b:9090"));

        Assert.Equal(["10.0.0.5:8080", "embedder-b:9090"], replicas.Select(r => $"{r.EndPoint.Host}:{r.EndPoint.Port}"));
    }

    [Theory]
    [InlineData("static:///")]
    [InlineData("static:///host-without-port")]
    [InlineData("static:///host:99999")]
    public void A_static_address_without_usable_replicas_is_refused(string address) =>
        Assert.Throws<FormatException>(() => GrpcClientExtensions.StaticReplicas(new Uri(address)));

    [Fact]
    public void Http_dns_and_static_addresses_are_valid_and_others_are_named()
    {
        var options = new ServiceEndpointsOptions
        {
            Ingest = "http://ingest:8080",
            Embedder = "dns:///landmark-embedder-headless:8080",
            Retrieval = "static:///127.0.0.1:5001,127.0.0.1:5002",
        };
        Assert.Empty(options.InvalidAddresses());

        options.Embedder = "ftp://embedder";
        options.Retrieval = "not a url";
        Assert.Equal(["Embedder", "Retrieval"], options.InvalidAddresses());
    }
}
