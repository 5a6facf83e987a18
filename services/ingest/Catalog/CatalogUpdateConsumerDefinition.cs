using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;

namespace Landmark.Ingest;

/// <summary>The catalog's status endpoint (<see cref="QueueNames.CatalogUpdates"/>), on the shared messaging defaults:
/// each update re-reads the record and only moves its status forward, so any concurrency is safe.</summary>
public sealed class CatalogUpdateConsumerDefinition : LandmarkConsumerDefinition<CatalogUpdateConsumer>
{
    public CatalogUpdateConsumerDefinition(ConsumerPolicies policies) : base(policies.For<CatalogUpdateConsumer>()) =>
        EndpointName = QueueNames.CatalogUpdates;
}
