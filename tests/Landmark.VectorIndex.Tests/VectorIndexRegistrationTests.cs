using Grpc.Core;
using Landmark.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using NSubstitute;
using NSubstitute.ExceptionExtensions;
using Qdrant.Client;
using Qdrant.Client.Grpc;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary><see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/>: binding, validation at start-up, the
/// chosen provider, the gRPC connection to Qdrant (endpoint, api-key, retries) and the health check.</summary>
public sealed class VectorIndexRegistrationTests : IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-index-di");

    private static ServiceProvider Build(Dictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddVectorIndex(configuration);
        services.AddVectorIndex(configuration);
        configure?.Invoke(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    private static Task<HealthReport> CheckHealthAsync(IServiceProvider services) =>
        services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    [Fact]
    public async Task The_embedded_provider_is_the_default_and_is_healthy()
    {
        await using var services = Build(new() { ["Landmark:Index:Embedded:Path"] = _root.Path });
        var index = Assert.IsType<EmbeddedVectorIndex>(services.GetRequiredService<IVectorIndex>());
        Assert.Same(index, services.GetRequiredService<IVectorIndex>());
        Assert.Equal(_root.Path, index.RootPath);
        await index.EnsureCollectionAsync("c", 2);

        var report = await CheckHealthAsync(services);
        var entry = Assert.Single(report.Entries);
        Assert.Equal(VectorIndexHealthCheck.Name, entry.Key);
        Assert.Equal(HealthStatus.Healthy, entry.Value.Status);
        Assert.Equal(1, entry.Value.Data["collections"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a url")]
    [InlineData("ftp://qdrant:6334")]
    [InlineData("http://qdrant:6333")]
    public async Task A_qdrant_provider_without_a_valid_grpc_url_fails_validation_at_start(string url)
    {
        await using var services = Build(new() { ["Landmark:Index:Provider"] = "Qdrant", ["Landmark:Index:Qdrant:Url"] = url });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Url", error.Message);
    }

    [Theory]
    [InlineData("UpsertBatchSize", "0")]
    [InlineData("Oversampling", "0.5")]
    [InlineData("ShardNumber", "0")]
    [InlineData("QuantizationQuantile", "0.2")]
    [InlineData("MaxAttempts", "9")]
    public async Task Out_of_range_settings_fail_validation_at_start(string key, string value)
    {
        await using var services = Build(new() { ["Landmark:Index:Provider"] = "Qdrant", [$"Landmark:Index:Qdrant:{key}"] = value });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(key, error.Message);
    }

    [Fact]
    public async Task A_write_consistency_factor_above_the_replication_factor_fails_validation_at_start()
    {
        await using var services = Build(new()
        {
            ["Landmark:Index:Provider"] = "Qdrant",
            ["Landmark:Index:Qdrant:ReplicationFactor"] = "2",
            ["Landmark:Index:Qdrant:WriteConsistencyFactor"] = "3",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("WriteConsistencyFactor", error.Message);
    }

    [Theory]
    [InlineData("http://qdrant.test:6334", "http://qdrant.test:6334/")]
    [InlineData("http://qdrant.test", "http://qdrant.test:6334/")]
    [InlineData("https://qdrant.example.com:443/", "https://qdrant.example.com/")]
    [InlineData("https://qdrant.example.com", "https://qdrant.example.com:6334/")]
    [InlineData("http://[::1]:7334", "http://[::1]:7334/")]
    public void The_url_maps_to_the_grpc_endpoint(string url, string endpoint)
    {
        Assert.True(new QdrantOptions { Url = url }.TryGetEndpoint(out var actual));
        Assert.Equal(endpoint, actual.ToString());
    }

    [Fact]
    public async Task The_qdrant_provider_builds_the_official_client_from_the_options()
    {
        await using var services = Build(new()
        {
            ["Landmark:Index:Provider"] = "Qdrant",
            ["Landmark:Index:Qdrant:Url"] = "http://qdrant.test",
            ["Landmark:Index:Qdrant:Quantization"] = "Int8",
            ["Landmark:Index:Qdrant:ShardNumber"] = "6",
        });
        services.GetRequiredService<IStartupValidator>().Validate();
        Assert.IsType<QdrantVectorIndex>(services.GetRequiredService<IVectorIndex>());
        var connection = services.GetRequiredService<QdrantConnection>();
        Assert.Equal(new Uri("http://qdrant.test:6334"), connection.Endpoint);
        Assert.Same(connection.Client, services.GetRequiredService<IQdrantClient>());
        var options = services.GetRequiredService<IOptions<VectorIndexOptions>>().Value.Qdrant;
        Assert.Equal((QdrantQuantization.Int8, 6), (options.Quantization, options.ShardNumber));
    }

    [Fact]
    public async Task The_connection_sends_the_api_key_and_retries_an_unavailable_qdrant()
    {
        var handler = new GrpcAnswers()
            .Fail(StatusCode.Unavailable, "starting")
            .Answer(new ListCollectionsResponse { Collections = { new CollectionDescription { Name = "gallery-v1" } }, Time = 0.0001 });
        using var connection = new QdrantConnection(new QdrantOptions { Url = "http://qdrant.test:6334", ApiKey = "k", MaxAttempts = 3 }, null, handler);
        var index = new QdrantVectorIndex(connection.Client, Options.Create(new VectorIndexOptions { Provider = VectorIndexProvider.Qdrant }));

        Assert.Equal(["gallery-v1"], await index.ListCollectionsAsync());

        Assert.Equal(2, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.Equal(("/qdrant.Collections/List", "k", "qdrant.test:6334"), (r.Path, r.ApiKey, r.Authority)));
    }

    [Fact]
    public async Task Without_an_api_key_no_api_key_metadata_is_sent_and_errors_surface_after_the_last_attempt()
    {
        var handler = new GrpcAnswers().Fail(StatusCode.Unavailable, "down").Fail(StatusCode.Unavailable, "down");
        using var connection = new QdrantConnection(new QdrantOptions { Url = "http://qdrant.test:6334", MaxAttempts = 2 }, null, handler);
        var index = new QdrantVectorIndex(connection.Client, Options.Create(new VectorIndexOptions { Provider = VectorIndexProvider.Qdrant }));

        var error = await Assert.ThrowsAsync<RpcException>(() => index.ListCollectionsAsync());

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(2, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.Null(r.ApiKey));
    }

    [Fact]
    public async Task The_health_check_reports_a_qdrant_that_answers_as_healthy_and_one_that_does_not_as_unhealthy()
    {
        var client = Substitute.For<IQdrantClient>();
        client.ListCollectionsAsync(Arg.Any<CancellationToken>()).Returns(["gallery-v1", "gallery-v2"]);
        await using var services = Build(
            new() { ["Landmark:Index:Provider"] = "Qdrant", ["Landmark:Index:Qdrant:Url"] = "http://qdrant.test:6334" },
            s => s.AddSingleton(client));

        var healthy = (await CheckHealthAsync(services)).Entries[VectorIndexHealthCheck.Name];
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Equal(2, healthy.Data["collections"]);

        client.ListCollectionsAsync(Arg.Any<CancellationToken>()).ThrowsAsync(new RpcException(new Status(StatusCode.Unavailable, "connection refused")));
        var entry = (await CheckHealthAsync(services)).Entries[VectorIndexHealthCheck.Name];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("Qdrant", entry.Description);
        Assert.IsType<RpcException>(entry.Exception);
    }

    [Fact]
    public async Task The_health_check_reports_an_unreachable_qdrant_as_unhealthy_through_the_real_client()
    {
        // Nothing listens on port 1: the real channel fails to connect (UNAVAILABLE) within the check's time.
        await using var services = Build(new()
        {
            ["Landmark:Index:Provider"] = "Qdrant",
            ["Landmark:Index:Qdrant:Url"] = "http://127.0.0.1:1",
            ["Landmark:Index:Qdrant:MaxAttempts"] = "1",
        });
        var entry = (await CheckHealthAsync(services)).Entries[VectorIndexHealthCheck.Name];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.IsType<RpcException>(entry.Exception);
    }

    public void Dispose() => _root.Dispose();
}
