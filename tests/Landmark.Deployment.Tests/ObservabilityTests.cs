using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Landmark.ServiceDefaults;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>Tests that change the process's console or environment run alone.</summary>
[CollectionDefinition(nameof(ProcessWideState), DisableParallelization = true)]
public sealed class ProcessWideState;

/// <summary>What the chart's settings switch on in every service (Landmark.ServiceDefaults): console log format with
/// trace ids, resource attributes from the environment, the queue-wait metric of the consumers.</summary>
[Collection(nameof(ProcessWideState))]
public sealed class ObservabilityTests
{
    private static WebApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", Args = [] });
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    /// <summary>Logs one warning inside an activity through a service host configured with <paramref name="settings"/>;
    /// returns the console output and the activity.</summary>
    private static async Task<(string Output, Activity Activity)> LogThroughServiceDefaultsAsync(Dictionary<string, string?> settings)
    {
        var original = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        Activity activity;
        try
        {
            var builder = Builder(settings);
            builder.AddServiceDefaults("probe");
            var app = builder.Build();
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Landmark.Probe");
            activity = new Activity("probe-operation").Start();
            logger.LogWarning("probe message {Number}", 42);
            activity.Stop();
            await app.DisposeAsync(); // flushes the console logger's queue
        }
        finally
        {
            Console.SetOut(original);
        }
        return (captured.ToString(), activity);
    }

    [Fact]
    public async Task Json_console_logs_carry_the_trace_and_span_ids_of_the_current_activity()
    {
        var (output, activity) = await LogThroughServiceDefaultsAsync(new() { ["Logging:Console:FormatterName"] = "json" });
        var line = Assert.Single(output.Split('\n'), l => l.Contains("probe message 42", StringComparison.Ordinal));
        using var json = JsonDocument.Parse(line);
        Assert.Equal("Warning", json.RootElement.GetProperty("LogLevel").GetString());
        Assert.Equal("Landmark.Probe", json.RootElement.GetProperty("Category").GetString());
        Assert.Equal(42, json.RootElement.GetProperty("State").GetProperty("Number").GetInt32());
        var scopes = json.RootElement.GetProperty("Scopes").EnumerateArray().ToList();
        Assert.Contains(scopes, s => s.TryGetProperty("TraceId", out var t) && t.GetString() == activity.TraceId.ToHexString());
        Assert.Contains(scopes, s => s.TryGetProperty("SpanId", out var t) && t.GetString() == activity.SpanId.ToHexString());
        Assert.EndsWith("Z", json.RootElement.GetProperty("Timestamp").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Console_logs_are_single_text_lines_unless_json_is_configured()
    {
        var (output, _) = await LogThroughServiceDefaultsAsync([]);
        var line = Assert.Single(output.Split('\n'), l => l.Contains("probe message 42", StringComparison.Ordinal));
        Assert.DoesNotContain("{", line, StringComparison.Ordinal);
        Assert.Contains("warn: Landmark.Probe", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Information", true)]
    public void Framework_request_logs_are_off_by_default_and_configuration_turns_them_back_on(string? aspNetCoreLevel, bool enabled)
    {
        var settings = new Dictionary<string, string?>();
        if (aspNetCoreLevel is not null)
        {
            settings["Logging:LogLevel:Microsoft.AspNetCore"] = aspNetCoreLevel;
            settings["Logging:LogLevel:System.Net.Http.HttpClient"] = aspNetCoreLevel;
        }
        var builder = Builder(settings);
        builder.AddServiceDefaults("probe");
        using var app = (IDisposable)builder.Build();
        var loggers = ((WebApplication)app).Services.GetRequiredService<ILoggerFactory>();

        Assert.Equal(enabled, loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.Equal(enabled, loggers.CreateLogger("System.Net.Http.HttpClient.EmbedderServiceClient.LogicalHandler").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Warning));
        Assert.True(loggers.CreateLogger("Landmark.Embedder.EmbedConsumer").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void Resource_attributes_come_from_the_environment_the_chart_sets()
    {
        const string variable = "OTEL_RESOURCE_ATTRIBUTES";
        var before = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, "service.version=9.8.7,deployment.environment=staging,k8s.pod.name=landmark-scorer-abc,k8s.node.name=node-7,k8s.namespace.name=landmark");
        try
        {
            var builder = Builder([]);
            builder.AddServiceDefaults("probe");
            using var app = (IDisposable)builder.Build();
            var provider = ((WebApplication)app).Services.GetRequiredService<MeterProvider>();
            var attributes = provider.GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value?.ToString());
            Assert.Equal("landmark-probe", attributes["service.name"]);
            Assert.Equal("9.8.7", attributes["service.version"]);
            Assert.Equal("staging", attributes["deployment.environment"]);
            Assert.Equal("landmark-scorer-abc", attributes["k8s.pod.name"]);
            Assert.Equal("node-7", attributes["k8s.node.name"]);
            Assert.Equal("landmark", attributes["k8s.namespace.name"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, before);
        }
    }

    public sealed record QueueWaitProbe(int Number);

    public sealed class QueueWaitProbeConsumer : IConsumer<QueueWaitProbe>
    {
        public Task Consume(ConsumeContext<QueueWaitProbe> context) => Task.CompletedTask;
    }

    [Fact]
    public async Task Consumers_record_how_long_a_message_waited_in_its_queue_in_seconds()
    {
        var measurements = new List<(double Seconds, string? Queue)>();
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == QueueWaitObserver.MeterName && instrument.Name == "landmark.messaging.queue_wait.duration")
            {
                Assert.Equal("s", instrument.Unit);
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            lock (measurements)
            {
                string? queue = null;
                foreach (var tag in tags)
                {
                    if (tag.Key == "messaging.destination.name")
                    {
                        queue = tag.Value?.ToString();
                    }
                }
                measurements.Add((value, queue));
            }
            recorded.TrySetResult();
        });
        listener.Start();

        var builder = Builder(new() { ["Landmark:Messaging:Transport"] = "InMemory" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddLandmarkMessaging(x => x.AddConsumer<QueueWaitProbeConsumer>());
        await using var app = builder.Build();
        await app.StartAsync();
        try
        {
            await app.Services.GetRequiredService<IPublishEndpoint>().Publish(new QueueWaitProbe(1));
            await recorded.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await app.StopAsync();
        }
        lock (measurements)
        {
            var (seconds, queue) = Assert.Single(measurements);
            Assert.InRange(seconds, 0, 30);
            Assert.Equal("queue-wait-probe", queue);
        }
    }

    [Theory]
    [InlineData("rabbitmq://rabbit.messaging/landmark/landmark-embed", "landmark-embed")]
    [InlineData("rabbitmq://localhost/landmark-preprocess", "landmark-preprocess")]
    [InlineData("loopback://localhost/queue-wait-probe/", "queue-wait-probe")]
    public void Queue_name_is_the_last_segment_of_the_input_address(string address, string queue)
    {
        Assert.Equal(queue, QueueWaitObserver.QueueName(new Uri(address)));
    }
}
