using Landmark.Contracts.Messages;
using Landmark.Embedding;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>Switches this replica's query model when a model goes live. Consumed on a temporary queue of its own per
/// replica (<see cref="QueueNames.EmbedderActivation"/> plus an instance id), so every replica switches; a replica
/// that misses the event (down at the time) loads the live model at start-up or on its next registry check. The
/// registry's live pointer is the truth: a late, redelivered activation of an older model switches to what is live now.</summary>
public sealed class LiveModelSwitchConsumer(ModelHost models, ModelRegistry registry, ILogger<LiveModelSwitchConsumer> logger)
    : IConsumer<ModelActivated>
{
    public async Task Consume(ConsumeContext<ModelActivated> context)
    {
        await models.Ready.WaitAsync(context.CancellationToken);
        var m = context.Message;
        var live = await registry.GetLiveVersionAsync(context.CancellationToken) ?? m.ModelVersion;
        if (live != m.ModelVersion)
        {
            logger.LogInformation("Activation of {Version} is stale: the registry names {Live} live", m.ModelVersion, live);
        }
        await models.ActivateAsync(live, context.CancellationToken);
    }
}
