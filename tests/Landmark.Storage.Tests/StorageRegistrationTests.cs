using Landmark.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary><see cref="ObjectStoreServiceCollectionExtensions.AddObjectStore"/>, the options validation and the health check.</summary>
public sealed class StorageRegistrationTests : IDisposable
{
    private readonly TempDirectory _root = TestPaths.CreateTempDirectory("landmark-store-di");

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddObjectStore(configuration);
        return services.BuildServiceProvider();
    }

    private Dictionary<string, string?> LocalSettings() => new() { ["Landmark:Storage:Local:Root"] = _root.Path };

    private static Dictionary<string, string?> S3Settings(string endpoint) => new()
    {
        ["Landmark:Storage:Provider"] = "S3",
        ["Landmark:Storage:S3:Endpoint"] = endpoint,
        ["Landmark:Storage:S3:AccessKey"] = "access",
        ["Landmark:Storage:S3:SecretKey"] = "secret",
        ["Landmark:Storage:S3:MaxAttempts"] = "1",
    };

    [Fact]
    public void Local_is_the_default_provider_and_the_store_is_a_singleton()
    {
        using var provider = Build(LocalSettings());
        var store = Assert.IsType<LocalDiskObjectStore>(provider.GetRequiredService<IObjectStore>());
        Assert.Same(store, provider.GetRequiredService<IObjectStore>());
        Assert.Equal(_root.Path, store.Root);
    }

    [Fact]
    public void S3_provider_registers_the_s3_store_also_resolvable_for_presigned_urls()
    {
        using var provider = Build(S3Settings("127.0.0.1:7480"));
        var store = Assert.IsType<S3ObjectStore>(provider.GetRequiredService<IObjectStore>());
        Assert.Same(store, provider.GetRequiredService<S3ObjectStore>());
        Assert.Equal("landmark-raw", store.PhysicalBucket(Buckets.Raw));
        Assert.Equal("http://127.0.0.1:7480", store.Endpoint);
    }

    [Fact]
    public void Https_url_endpoints_switch_tls_on()
    {
        using var provider = Build(S3Settings("https://s3.example.org"));
        Assert.Equal("https://s3.example.org", provider.GetRequiredService<S3ObjectStore>().Endpoint);
    }

    [Theory]
    [InlineData("Endpoint")]
    [InlineData("AccessKey")]
    [InlineData("SecretKey")]
    public void S3_provider_without_endpoint_or_credentials_fails_validation_naming_the_setting(string missing)
    {
        var settings = S3Settings("127.0.0.1:7480");
        settings["Landmark:Storage:S3:" + missing] = "";
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<StorageOptions>>().Value);
        Assert.Contains($"Landmark:Storage:S3:{missing} is required", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Landmark:Storage:S3:MaxAttempts", "0", "MaxAttempts")]
    [InlineData("Landmark:Storage:S3:Endpoint", "http://host/with/path", "Endpoint")]
    [InlineData("Landmark:Storage:S3:BucketPrefix", "Upper_", "BucketPrefix")]
    [InlineData("Landmark:Storage:HealthCheckBucket", "No", "HealthCheckBucket")]
    public void Invalid_settings_fail_validation_naming_the_setting(string key, string value, string named)
    {
        var settings = S3Settings("127.0.0.1:7480");
        settings[key] = value;
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<StorageOptions>>().Value);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_settings_stop_the_host_at_start_up()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Landmark:Storage:Provider"] = "S3" });
        builder.Services.AddObjectStore(builder.Configuration);
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Endpoint", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Registration_is_idempotent()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(LocalSettings()).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddObjectStore(configuration).AddObjectStore(configuration);
        Assert.Single(services, d => d.ServiceType == typeof(IObjectStore));
        Assert.Single(services, d => d.ImplementationType == typeof(BucketInitializer));
        using var provider = services.BuildServiceProvider();
        var checks = provider.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;
        Assert.Single(checks, r => r.Name == ObjectStoreHealthCheck.Name && r.Tags.Contains(ObjectStoreHealthCheck.ReadyTag));
    }

    [Fact]
    public async Task Health_check_is_healthy_once_the_bucket_exists_and_unhealthy_before()
    {
        using var provider = Build(LocalSettings());
        var health = provider.GetRequiredService<HealthCheckService>();
        var before = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, before.Entries[ObjectStoreHealthCheck.Name].Status);
        Assert.Contains("does not exist", before.Entries[ObjectStoreHealthCheck.Name].Description, StringComparison.Ordinal);

        await provider.GetRequiredService<IObjectStore>().EnsureBucketAsync(Buckets.Catalog);
        var after = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, after.Entries[ObjectStoreHealthCheck.Name].Status);
    }

    [Fact]
    public async Task Health_check_is_unhealthy_when_the_s3_server_does_not_answer()
    {
        using var provider = Build(S3Settings($"127.0.0.1:{TestPaths.FreeTcpPort()}"));
        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var entry = report.Entries[ObjectStoreHealthCheck.Name];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.IsType<ObjectStoreUnavailableException>(entry.Exception);
    }

    [Fact]
    public void Keys_are_ordered_by_their_utf8_bytes_like_s3_lists_them()
    {
        string[] keys = ["b", "a/b", "a-b", "\uFF21", "\U0001F600", "a", "A"];
        Assert.Equal(["A", "a", "a-b", "a/b", "b", "\uFF21", "\U0001F600"], keys.Order(ObjectKeys.Order));
    }

    public void Dispose() => _root.Dispose();
}
