using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.ServiceDefaults;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Preprocess.Tests;

/// <summary>The preprocess consumer's definition owns its endpoint: the probe of a started bus shows what it set.</summary>
public class EndpointConfigurationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_definition_takes_concurrency_and_prefetch_from_preprocess_options_over_an_endpoint_callback()
    {
        var section = await ProbePreprocessEndpointAsync(new PreprocessOptions { ConcurrencyLimit = 3 }, new Dictionary<string, string?>(),
            callback: endpoint =>
            {
                endpoint.PrefetchCount = 32;
                endpoint.ConcurrentMessageLimit = 50;
            });
        Assert.Matches("(?i)\"prefetchCount\":\\s*3\\b", section);
        Assert.Matches("(?i)\"concurrentMessageLimit\":\\s*3\\b", section);
    }

    [Fact]
    public async Task Per_consumer_settings_in_configuration_override_the_consumers_defaults()
    {
        var section = await ProbePreprocessEndpointAsync(new PreprocessOptions { ConcurrencyLimit = 3 }, new Dictionary<string, string?>
        {
            [$"{ConsumerOptions.SectionFor<PreprocessConsumer>()}:ConcurrencyLimit"] = "5",
            [$"{ConsumerOptions.SectionFor<PreprocessConsumer>()}:PrefetchCount"] = "7",
        });
        Assert.Matches("(?i)\"prefetchCount\":\\s*7\\b", section);
        Assert.Matches("(?i)\"concurrentMessageLimit\":\\s*5\\b", section);
    }

    [Fact]
    public async Task Per_consumer_retry_settings_replace_the_shared_messaging_retry()
    {
        var shared = await ProbePreprocessEndpointAsync(new PreprocessOptions(), new Dictionary<string, string?>());
        Assert.Matches($"\"policy\":\"Exponential\",\"limit\":{new MessagingOptions().RetryLimit}\\b", shared);

        var configured = await ProbePreprocessEndpointAsync(new PreprocessOptions(), new Dictionary<string, string?>
        {
            [$"{ConsumerOptions.SectionFor<PreprocessConsumer>()}:RetryLimit"] = "9",
        });
        Assert.Matches("\"policy\":\"Exponential\",\"limit\":9\\b", configured);
    }

    [Fact]
    public void An_out_of_range_per_consumer_setting_fails_validation_naming_the_setting()
    {
        using var services = BuildServices(new PreprocessOptions(), new Dictionary<string, string?>
        {
            [$"{ConsumerOptions.SectionFor<PreprocessConsumer>()}:PrefetchCount"] = "0",
        }, callback: null);
        var error = Assert.Throws<OptionsValidationException>(() =>
            services.GetRequiredService<IOptionsMonitor<ConsumerOptions>>().Get(ConsumerOptions.NameOf<PreprocessConsumer>()));
        output.WriteLine(error.Message);
        Assert.Contains(nameof(ConsumerOptions.PrefetchCount), error.Message);
    }

    private async Task<string> ProbePreprocessEndpointAsync(PreprocessOptions options, Dictionary<string, string?> configuration,
        Action<IReceiveEndpointConfigurator>? callback = null)
    {
        await using var services = BuildServices(options, configuration, callback);
        var harness = services.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var probe = System.Text.Json.JsonSerializer.Serialize(harness.Bus.GetProbeResult().Results);
            var start = probe.IndexOf(QueueNames.Preprocess, StringComparison.Ordinal);
            Assert.True(start >= 0, probe);
            var section = probe[start..Math.Min(probe.Length, start + 3000)];
            output.WriteLine(section);
            return section;
        }
        finally
        {
            await harness.Stop();
        }
    }

    private static ServiceProvider BuildServices(PreprocessOptions options, Dictionary<string, string?> configuration,
        Action<IReceiveEndpointConfigurator>? callback) =>
        new ServiceCollection()
            .AddLogging()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build())
            .AddSingleton<Landmark.Storage.IObjectStore>(new Landmark.Storage.LocalDiskObjectStore(Path.GetTempPath()))
            .AddSingleton(new ImagePipeline(new ImagingOptions()))
            .AddSingleton(Options.Create(options))
            .AddMassTransitTestHarness(x =>
            {
                x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
                if (callback is not null)
                {
                    x.AddConfigureEndpointsCallback((_, _, endpoint) => callback(endpoint));
                }
                PreprocessModule.AddConsumers(x);
            })
            .BuildServiceProvider(true);
}
