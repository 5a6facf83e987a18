using Landmark.Contracts.Messages;
using Landmark.Imaging;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Preprocess.Tests;

public class EndpointConfigurationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_definition_wins_over_the_shared_endpoint_callback_for_concurrency_and_prefetch()
    {
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<Landmark.Storage.IObjectStore>(new Landmark.Storage.LocalDiskObjectStore(Path.GetTempPath()))
            .AddSingleton(new ImagePipeline(new ImagingOptions()))
            .AddSingleton(Options.Create(new PreprocessOptions { ConcurrencyLimit = 3 }))
            .AddMassTransitTestHarness(x =>
            {
                x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
                // As Landmark.ServiceDefaults' messaging does for every endpoint.
                x.AddConfigureEndpointsCallback((_, _, endpoint) =>
                {
                    endpoint.PrefetchCount = 32;
                    endpoint.ConcurrentMessageLimit = 50;
                });
                PreprocessModule.AddConsumers(x);
            })
            .BuildServiceProvider(true);
        var harness = services.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var probe = System.Text.Json.JsonSerializer.Serialize(harness.Bus.GetProbeResult().Results);
            var start = probe.IndexOf(QueueNames.Preprocess, StringComparison.Ordinal);
            Assert.True(start >= 0, probe);
            var section = probe[start..Math.Min(probe.Length, start + 1500)];
            output.WriteLine(section);
            Assert.Matches("(?i)\"prefetchCount\":\\s*3\\b", section);
            Assert.Matches("(?i)\"concurrentMessageLimit\":\\s*3\\b", section);
        }
        finally
        {
            await harness.Stop();
        }
    }
}
