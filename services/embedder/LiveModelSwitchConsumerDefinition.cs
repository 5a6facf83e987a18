using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>One temporary (auto-deleted) queue per replica (<see cref="QueueNames.EmbedderActivation"/> plus the
/// replica id): every replica must switch its query model.</summary>
public sealed class LiveModelSwitchConsumerDefinition : LandmarkConsumerDefinition<LiveModelSwitchConsumer>
{
    public LiveModelSwitchConsumerDefinition(ConsumerPolicies policies) : base(policies.For<LiveModelSwitchConsumer>()) =>
        Endpoint(e =>
        {
            e.Name = $"{QueueNames.EmbedderActivation}-{policies.ReplicaId}";
            e.Temporary = true;
        });
}
