using System.Net;
using Landmark.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary><see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/>: binding, validation at start-up, the
/// chosen provider, the resilient HTTP pipeline for Qdrant and the health check.</summary>
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
    [InlineData("ftp://qdrant:6333")]
    public async Task A_qdrant_provider_without_a_valid_url_fails_validation_at_start(string url)
    {
        await using var services = Build(new() { ["Landmark:Index:Provider"] = "Qdrant", ["Landmark:Index:Qdrant:Url"] = url });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Url", error.Message);
    }

    [Fact]
    public async Task Out_of_range_settings_fail_validation_at_start()
    {
        await using var services = Build(new() { ["Landmark:Index:Provider"] = "Qdrant", ["Landmark:Index:Qdrant:UpsertBatchSize"] = "0" });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("UpsertBatchSize", error.Message);
    }

    [Fact]
    public async Task The_qdrant_provider_goes_through_the_named_client_with_the_standard_resilience_handler()
    {
        var handler = new RecordingHandler()
            .Respond("""{"status":{"error":"Service unavailable"},"time":0.0}""", HttpStatusCode.ServiceUnavailable)
            .Respond("""{"result":{"collections":[{"name":"gallery-v1"}]},"status":"ok","time":0.0001}""");
        await using var services = Build(
            new()
            {
                ["Landmark:Index:Provider"] = "Qdrant",
                ["Landmark:Index:Qdrant:Url"] = "http://qdrant.test:6333",
                ["Landmark:Index:Qdrant:ApiKey"] = "k",
            },
            s =>
            {
                s.AddHttpClient(QdrantVectorIndex.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => handler);
                s.Configure<HttpStandardResilienceOptions>(QdrantVectorIndex.HttpClientName + "-standard", o => o.Retry.Delay = TimeSpan.FromMilliseconds(1));
            });
        services.GetRequiredService<IStartupValidator>().Validate();
        var index = Assert.IsType<QdrantVectorIndex>(services.GetRequiredService<IVectorIndex>());

        Assert.Equal(["gallery-v1"], await index.ListCollectionsAsync());

        // The 503 was retried by the resilience handler; both attempts carried the api key.
        Assert.Equal(2, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.Equal(("GET", "/collections", "k"), (r.Method, r.PathAndQuery, r.ApiKey)));
    }

    [Fact]
    public async Task The_health_check_reports_an_index_that_does_not_answer_as_unhealthy()
    {
        var handler = new RecordingHandler();
        for (var i = 0; i < 10; i++)
        {
            handler.Respond("""{"status":{"error":"boom"},"time":0.0}""", HttpStatusCode.InternalServerError);
        }
        await using var services = Build(
            new() { ["Landmark:Index:Provider"] = "Qdrant", ["Landmark:Index:Qdrant:Url"] = "http://qdrant.test:6333" },
            s =>
            {
                s.AddHttpClient(QdrantVectorIndex.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => handler);
                s.Configure<HttpStandardResilienceOptions>(QdrantVectorIndex.HttpClientName + "-standard", o => o.Retry.Delay = TimeSpan.FromMilliseconds(1));
            });

        var entry = (await CheckHealthAsync(services)).Entries[VectorIndexHealthCheck.Name];

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("Qdrant", entry.Description);
        Assert.IsType<HttpRequestException>(entry.Exception);
    }

    public void Dispose() => _root.Dispose();
}
