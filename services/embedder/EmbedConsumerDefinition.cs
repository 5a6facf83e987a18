using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>The gallery embedding endpoint (<see cref="QueueNames.Embed"/>): 16 messages in flight by default, enough to
/// fill model batches. A variant that is gone from storage is not retried.</summary>
public sealed class EmbedConsumerDefinition : LandmarkConsumerDefinition<EmbedConsumer>
{
    public const int DefaultConcurrencyLimit = 16;

    public EmbedConsumerDefinition(ConsumerPolicies policies) : base(policies.For<EmbedConsumer>(DefaultConcurrencyLimit)) =>
        EndpointName = QueueNames.Embed;

    protected override void ConfigureRetry(IRetryConfigurator retry) => retry.Ignore<ObjectNotFoundException>();
}
