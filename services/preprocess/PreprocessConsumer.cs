using System.Diagnostics.Metrics;
using System.Text.Json;
using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Preprocess;

/// <summary>
/// Turns an ingested image into stored variants (queue <see cref="QueueNames.Preprocess"/>). Idempotent, keyed by the
/// content hash: when the variants of an image already exist their manifest is re-published instead of decoding again.
/// Bad images are rejected with a recorded reason (<see cref="ImageRejected"/>), never retried; storage failures throw
/// and are retried, then land in the error queue.
/// </summary>
public sealed class PreprocessConsumer(IObjectStore store, ImagePipeline pipeline, IOptions<PreprocessOptions> options,
    ILogger<PreprocessConsumer> logger) : IConsumer<ImageIngested>
{
    public const string Stage = "preprocess";

    /// <summary>The code of an image given up after <see cref="PreprocessOptions.DeliveryLimit"/> deliveries.</summary>
    public const string DeliveryLimitCode = "delivery_limit";

    /// <summary>RabbitMQ quorum queues count failed deliveries in this header (absent on the first delivery).</summary>
    public const string DeliveryCountHeader = "x-delivery-count";

    private static readonly Meter Meter = new("Landmark.Preprocess");
    private static readonly Counter<long> Processed = Meter.CreateCounter<long>("landmark.preprocess.images");
    private static readonly Counter<long> Rejected = Meter.CreateCounter<long>("landmark.preprocess.rejected");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("landmark.preprocess.duration", "s");

    public async Task Consume(ConsumeContext<ImageIngested> context)
    {
        var m = context.Message;
        var ct = context.CancellationToken;
        var limit = options.Value.DeliveryLimit;
        if (limit > 0 && PreviousDeliveries(context) is var previous and > 0 && previous >= limit)
        {
            // Every earlier delivery ended without an acknowledgement: the process died while it held this image.
            // Decoding it again would only kill the next one.
            await Reject(context, DeliveryLimitCode,
                $"processing stopped the service {previous} times (delivery limit {limit}); the image is not decoded again");
            return;
        }

        var manifestKey = VariantManifest.ObjectKeyFor(m.ImageId);

        var existing = await store.TryGetBytesAsync(Buckets.Variants, manifestKey, ct);
        if (existing is not null && JsonSerializer.Deserialize<VariantManifest>(existing) is { } done)
        {
            await context.Publish(ToEvent(m, done), ct);
            return;
        }

        var raw = await store.TryGetBytesAsync(Buckets.Raw, m.ObjectKey, ct);
        if (raw is null)
        {
            await Reject(context, "missing_raw", $"raw object '{m.ObjectKey}' does not exist");
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        PreparedImage prepared;
        try
        {
            prepared = await pipeline.PrepareAsync(raw, ct); // waits for the process-wide decode budget
        }
        catch (ImageRejectedException ex)
        {
            await Reject(context, ex.Code, ex.Reason);
            return;
        }

        var variants = new List<StoredVariant>(prepared.Variants.Count);
        foreach (var v in prepared.Variants)
        {
            var key = $"{m.ImageId}/{v.Name}.jpg";
            await store.PutBytesAsync(Buckets.Variants, key, v.Bytes, v.ContentType, cancellationToken: ct);
            variants.Add(new StoredVariant(v.Name, key, v.Width, v.Height, v.Bytes.Length));
        }
        var manifest = new VariantManifest(prepared.Header.Format.ToString(), prepared.Header.OrientedWidth, prepared.Header.OrientedHeight, variants);
        // The manifest goes last: its presence means every variant is stored.
        await store.PutBytesAsync(Buckets.Variants, manifestKey, JsonSerializer.SerializeToUtf8Bytes(manifest), "application/json", cancellationToken: ct);
        await context.Publish(ToEvent(m, manifest), ct);
        Processed.Add(1);
        Duration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private async Task Reject(ConsumeContext<ImageIngested> context, string code, string reason)
    {
        logger.LogWarning("Rejected {ImageId} ({FileName}): {Code}: {Reason}", context.Message.ImageId, context.Message.FileName, code, reason);
        Rejected.Add(1, new KeyValuePair<string, object?>("code", code));
        await context.Publish(new ImageRejected(context.Message.ImageId, Stage, code, reason), context.CancellationToken);
    }

    /// <summary>Deliveries before this one that were not acknowledged: the broker's count (quorum queues) or
    /// MassTransit's redelivery count, whichever is higher.</summary>
    internal static long PreviousDeliveries(ConsumeContext context)
    {
        long count = context.GetRedeliveryCount();
        foreach (var headers in new[] { context.ReceiveContext.TransportHeaders, context.Headers })
        {
            if (headers.TryGetHeader(DeliveryCountHeader, out var value) && value is not null)
            {
                try
                {
                    count = Math.Max(count, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                }
                catch (Exception ex) when (ex is FormatException or InvalidCastException or OverflowException)
                {
                    // A header that is not a number is ignored.
                }
            }
        }
        return count;
    }

    private static ImagePreprocessed ToEvent(ImageIngested m, VariantManifest manifest) =>
        new(m.ImageId, m.Role, m.LandmarkId, m.FileName, m.ExternalId, manifest.Format, manifest.Width, manifest.Height, manifest.Variants);
}
