using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Trainer;

/// <summary>The catalog's reports on a roll-out (queue <see cref="QueueNames.ModelUpdates"/>): progress, and the
/// completed re-index that makes the model live. One message at a time; idempotent (see <see cref="ModelRollout"/>).</summary>
public sealed class RolloutConsumer(ModelRollout rollout) : IConsumer<GalleryReindexProgress>, IConsumer<GalleryReindexed>
{
    public Task Consume(ConsumeContext<GalleryReindexProgress> context) =>
        rollout.OnProgressAsync(context.Message, context.CancellationToken);

    public Task Consume(ConsumeContext<GalleryReindexed> context) =>
        rollout.OnReindexedAsync(context.Message, context, context.CancellationToken);
}
