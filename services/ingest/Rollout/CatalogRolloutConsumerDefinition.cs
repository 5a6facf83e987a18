using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;

namespace Landmark.Ingest;

/// <summary>The shared queue that starts a roll-out (<see cref="QueueNames.CatalogRollout"/>), on the shared messaging
/// defaults.</summary>
public sealed class CatalogRolloutConsumerDefinition : LandmarkConsumerDefinition<CatalogRolloutConsumer>
{
    public CatalogRolloutConsumerDefinition(ConsumerPolicies policies) : base(policies.For<CatalogRolloutConsumer>()) =>
        EndpointName = QueueNames.CatalogRollout;
}

/// <summary>One temporary (auto-deleted) queue per ingest replica (<see cref="QueueNames.CatalogRolloutWatch"/> plus the
/// replica id): every replica follows the roll-out.</summary>
public sealed class CatalogRolloutWatcherDefinition : LandmarkConsumerDefinition<CatalogRolloutWatcher>
{
    public CatalogRolloutWatcherDefinition(ConsumerPolicies policies) : base(policies.For<CatalogRolloutWatcher>()) =>
        Endpoint(e =>
        {
            e.Name = $"{QueueNames.CatalogRolloutWatch}-{policies.ReplicaId}";
            e.Temporary = true;
        });
}
