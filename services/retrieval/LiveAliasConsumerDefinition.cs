using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;

namespace Landmark.Retrieval;

/// <summary>The live-alias endpoint (<see cref="QueueNames.IndexActivation"/>), on the shared messaging defaults.</summary>
public sealed class LiveAliasConsumerDefinition : LandmarkConsumerDefinition<LiveAliasConsumer>
{
    public LiveAliasConsumerDefinition(ConsumerPolicies policies) : base(policies.For<LiveAliasConsumer>()) =>
        EndpointName = QueueNames.IndexActivation;
}
