using System.ComponentModel.DataAnnotations;

namespace Landmark.Preprocess;

/// <summary>The preprocess consumer's limits. Bound from <c>Landmark:Preprocess</c>.</summary>
public sealed class PreprocessOptions
{
    public const string SectionName = "Landmark:Preprocess";

    /// <summary>Images decoded at once by this process. Decoding is CPU-bound: more than the cores only adds memory.
    /// The decode budget (<c>Landmark:Imaging:DecodeBudgetMegapixels</c>) bounds memory whatever this is.</summary>
    [Range(1, 256)]
    public int ConcurrencyLimit { get; set; } = 2;

    /// <summary>Messages the broker hands this consumer ahead of processing (0 = the concurrency limit). Kept small:
    /// when the process dies, every unacknowledged message is redelivered and counts one delivery towards
    /// <see cref="DeliveryLimit"/>, so a large prefetch would charge innocent images for a crash they did not cause.</summary>
    [Range(0, 10000)]
    public int PrefetchCount { get; set; }

    /// <summary>
    /// Deliveries of one message before it is given up: a message whose processing killed the process (out of
    /// memory, a native crash) comes back with the broker's delivery count; once it has been delivered this many
    /// times it is not decoded again but rejected (<c>ImageRejected</c>, code <c>delivery_limit</c>) and
    /// acknowledged. On RabbitMQ the queue is a quorum queue with <c>x-delivery-limit</c> one higher, dead-lettered
    /// into the endpoint's error queue, as a backstop should even the rejection fail. 0 disables both.
    /// </summary>
    [Range(0, 1000)]
    public int DeliveryLimit { get; set; } = 3;

    /// <summary>Declare the RabbitMQ queue as a quorum queue (needed for delivery counting). An existing classic queue
    /// cannot be turned into one in place: delete it (or drain and rename) when upgrading; false keeps a classic queue
    /// (then only MassTransit's own redelivery count, if any, is seen).</summary>
    public bool QuorumQueue { get; set; } = true;

    public int EffectivePrefetchCount => PrefetchCount > 0 ? PrefetchCount : ConcurrencyLimit;
}
