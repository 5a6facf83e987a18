using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using MassTransit;

namespace Landmark.Retrieval;

/// <summary>The indexing endpoint (<see cref="QueueNames.Index"/>): 8 messages in flight by default. A vector the index
/// refuses (wrong dimension, zero or non-finite length) is refused again on every retry, so it is not retried.</summary>
public sealed class IndexConsumerDefinition : LandmarkConsumerDefinition<IndexConsumer>
{
    public const int DefaultConcurrencyLimit = 8;

    public IndexConsumerDefinition(ConsumerPolicies policies) : base(policies.For<IndexConsumer>(DefaultConcurrencyLimit)) =>
        EndpointName = QueueNames.Index;

    protected override void ConfigureRetry(IRetryConfigurator retry) => retry.Ignore<ArgumentException>();
}
