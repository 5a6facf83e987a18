namespace Landmark.Contracts.Messages;

/// <summary>Receive-endpoint (queue) names, shared by every transport and by the Helm chart's KEDA triggers.</summary>
public static class QueueNames
{
    public const string Preprocess = "landmark-preprocess";
    public const string Embed = "landmark-embed";
    public const string Index = "landmark-index";
    public const string CatalogUpdates = "landmark-catalog";
    public const string ModelUpdates = "landmark-model-updates";

    /// <summary>MassTransit moves messages that exhausted their retries here (queue name + this suffix).</summary>
    public const string ErrorSuffix = "_error";

    public static IReadOnlyList<string> All { get; } = [Preprocess, Embed, Index, CatalogUpdates, ModelUpdates];
}
