using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>One consumer's resolved endpoint policy: its settings (<see cref="ConsumerOptions"/>) over the consumer's
/// own defaults over the shared <see cref="MessagingOptions"/>.</summary>
public sealed record ConsumerPolicy(int? ConcurrencyLimit, int PrefetchCount, int RetryLimit, TimeSpan RetryInitialDelay, bool DelayedRedelivery);

/// <summary>Resolves <see cref="ConsumerPolicy"/> for consumer definitions, and names the per-replica queues.</summary>
public sealed class ConsumerPolicies(IOptionsMonitor<ConsumerOptions> consumers, IOptions<MessagingOptions> messaging)
{
    /// <summary>Appended to the prefix of a queue every replica owns (a temporary queue per process), so that replicas do
    /// not compete for its messages. One value per service provider: every definition that asks gets the same.</summary>
    public string ReplicaId { get; } = NewId.NextGuid().ToString("N");

    /// <summary>The policy of <typeparamref name="TConsumer"/>: configured values first, then the consumer's defaults
    /// (<paramref name="concurrencyLimit"/>, <paramref name="prefetchCount"/>), then <see cref="MessagingOptions"/>.</summary>
    public ConsumerPolicy For<TConsumer>(int? concurrencyLimit = null, int? prefetchCount = null)
    {
        var configured = consumers.Get(ConsumerOptions.NameOf<TConsumer>());
        var shared = messaging.Value;
        var concurrency = configured.ConcurrencyLimit ?? concurrencyLimit ?? shared.ConcurrencyLimit;
        return new ConsumerPolicy(
            concurrency > 0 ? concurrency : null,
            configured.PrefetchCount ?? prefetchCount ?? shared.PrefetchCount,
            configured.RetryLimit ?? shared.RetryLimit,
            TimeSpan.FromMilliseconds(configured.RetryInitialDelayMs ?? shared.RetryInitialDelayMs),
            shared.DelayedRedelivery);
    }
}
