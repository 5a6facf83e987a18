using System.Text.Json;
using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>The roll-out's re-embedding endpoint (<see cref="QueueNames.Reembed"/>): 16 messages in flight by default,
/// enough to fill model batches. A stored variant manifest that is not valid JSON is not retried.</summary>
public sealed class ReembedConsumerDefinition : LandmarkConsumerDefinition<ReembedConsumer>
{
    public const int DefaultConcurrencyLimit = 16;

    public ReembedConsumerDefinition(ConsumerPolicies policies) : base(policies.For<ReembedConsumer>(DefaultConcurrencyLimit)) =>
        EndpointName = QueueNames.Reembed;

    protected override void ConfigureRetry(IRetryConfigurator retry) => retry.Ignore<JsonException>();
}
