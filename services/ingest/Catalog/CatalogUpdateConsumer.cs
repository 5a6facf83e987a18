using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Ingest;

/// <summary>Keeps the catalog's status in step with the pipeline (queue <see cref="QueueNames.CatalogUpdates"/>).
/// Idempotent: replays and out-of-order events never move an image backwards. Indexing events also feed the model
/// roll-out (<see cref="CatalogRollout"/>).</summary>
public sealed class CatalogUpdateConsumer(ImageCatalog catalog, CatalogRollout rollout) :
    IConsumer<ImagePreprocessed>,
    IConsumer<ImageRejected>,
    IConsumer<ImageIndexed>
{
    public async Task Consume(ConsumeContext<ImagePreprocessed> context)
    {
        await catalog.Loaded;
        var m = context.Message;
        await catalog.UpdateAsync(m.ImageId, r => r with
        {
            Status = r.Status < CatalogStatus.Preprocessed ? CatalogStatus.Preprocessed : r.Status,
            Format = m.Format,
            Width = m.Width,
            Height = m.Height,
        }, context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<ImageRejected> context)
    {
        await catalog.Loaded;
        var m = context.Message;
        await catalog.UpdateAsync(m.ImageId, r => r.Status == CatalogStatus.Rejected ? r : r with
        {
            Status = CatalogStatus.Rejected,
            RejectionCode = m.Code,
            RejectionReason = $"{m.Stage}: {m.Reason}",
        }, context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<ImageIndexed> context)
    {
        await catalog.Loaded;
        var m = context.Message;
        var record = await catalog.UpdateAsync(m.ImageId, r => r.Status == CatalogStatus.Rejected ? r : r.WithIndexed(m.ModelVersion),
            context.CancellationToken);
        if (record is { Status: CatalogStatus.Indexed })
        {
            await rollout.OnIndexedAsync(record, m.ModelVersion, context, context.CancellationToken);
        }
    }
}
