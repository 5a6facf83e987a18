namespace Landmark.Contracts.Messages;

/// <summary>Receive-endpoint (queue) names, shared by every transport and by the Helm chart's KEDA triggers.</summary>
public static class QueueNames
{
    public const string Preprocess = "landmark-preprocess";
    public const string Embed = "landmark-embed";
    public const string Index = "landmark-index";
    public const string CatalogUpdates = "landmark-catalog";

    /// <summary>The trainer's roll-out bookkeeping (<c>GalleryReindexProgress</c>, <c>GalleryReindexed</c>).</summary>
    public const string ModelUpdates = "landmark-model-updates";

    /// <summary>Gallery images re-embedded with a model being rolled out (<c>GalleryReembedRequested</c>, embedder).
    /// Its own queue, so a roll-out's backlog never delays freshly ingested images.</summary>
    public const string Reembed = "landmark-reembed";

    /// <summary>The catalog starts a roll-out (<c>ModelPublished</c>; one ingest replica enumerates the gallery).</summary>
    public const string CatalogRollout = "landmark-catalog-rollout";

    /// <summary>Prefix of each ingest replica's own temporary queue following roll-outs (<c>ModelPublished</c>,
    /// <c>ModelActivated</c>, <c>GalleryReembedFailed</c>); the transport appends an instance id.</summary>
    public const string CatalogRolloutWatch = "landmark-catalog-rollout-watch";

    /// <summary>Retrieval switches the live alias (<c>ModelActivated</c>).</summary>
    public const string IndexActivation = "landmark-index-activation";

    /// <summary>Prefix of each embedder replica's own temporary queue for <c>ModelActivated</c> (every replica must
    /// switch its query model, so they do not compete); the transport appends an instance id.</summary>
    public const string EmbedderActivation = "landmark-embedder-activation";

    /// <summary>MassTransit moves messages that exhausted their retries here (queue name + this suffix).</summary>
    public const string ErrorSuffix = "_error";

    public static IReadOnlyList<string> All { get; } = [Preprocess, Embed, Index, CatalogUpdates, ModelUpdates, Reembed, CatalogRollout, IndexActivation];
}
