using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Retrieval;

/// <summary>Switches the live alias to the activated model's collection (queue <see cref="QueueNames.IndexActivation"/>).
/// Searches that name a model are unaffected, so recognition stays consistent with the embedder's model during the
/// switch. Idempotent; an activation older than the last one applied (a late redelivery) is ignored.</summary>
public sealed class LiveAliasConsumer(GalleryIndex gallery, ILogger<LiveAliasConsumer> logger) : IConsumer<ModelActivated>
{
    public async Task Consume(ConsumeContext<ModelActivated> context)
    {
        var m = context.Message;
        var collection = await gallery.ActivateAsync(m.ModelVersion, m.Dimension, m.ActivatedAt, context.CancellationToken);
        if (collection is null)
        {
            logger.LogInformation("Ignoring a stale activation of {Version} from {ActivatedAt}", m.ModelVersion, m.ActivatedAt);
            return;
        }
        logger.LogInformation("Alias {Alias} now names {Collection} (model {Version}, previously {Previous})",
            GalleryIndex.LiveAlias, collection, m.ModelVersion, m.PreviousVersion);
    }
}
