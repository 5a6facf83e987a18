using System.Diagnostics.Metrics;
using MassTransit;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Records how long each message waited in its queue before a consumer took it (<c>landmark.messaging.queue_wait.duration</c>,
/// seconds, tagged with the queue as <c>messaging.destination.name</c>): the queue-age signal of the dashboard and the
/// alerts. Only the first delivery attempt counts (retries would add the consumer's own time).
/// </summary>
public sealed class QueueWaitObserver(TimeProvider time) : IConsumeObserver
{
    public const string MeterName = ServiceDefaultsExtensions.TelemetryPrefix + ".Messaging";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Histogram<double> Wait = Meter.CreateHistogram<double>("landmark.messaging.queue_wait.duration", "s",
        "Time from publish to the start of consumption");

    public Task PreConsume<T>(ConsumeContext<T> context) where T : class
    {
        if (context.SentTime is { } sent && context.GetRetryAttempt() == 0 && context.GetRedeliveryCount() == 0)
        {
            var seconds = Math.Max(0, (time.GetUtcNow().UtcDateTime - DateTime.SpecifyKind(sent, DateTimeKind.Utc)).TotalSeconds);
            Wait.Record(seconds, new KeyValuePair<string, object?>("messaging.destination.name", QueueName(context.ReceiveContext.InputAddress)));
        }
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Task.CompletedTask;

    /// <summary>The queue of an input address (rabbitmq://host/vhost/landmark-embed → landmark-embed).</summary>
    public static string QueueName(Uri? address) =>
        address is null ? "unknown" : address.AbsolutePath.TrimEnd('/') is var path && path.LastIndexOf('/') is var i && i >= 0 ? path[(i + 1)..] : path;
}
