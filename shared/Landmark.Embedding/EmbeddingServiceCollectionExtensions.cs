using Landmark.Imaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.Embedding;

public static class EmbeddingServiceCollectionExtensions
{
    /// <summary>Registers <see cref="BatchingEmbedder"/> (options from <c>Landmark:Embedder</c>, validated at start-up),
    /// the imaging pipeline and the model registry. Idempotent. Needs an <c>IObjectStore</c>.</summary>
    public static IServiceCollection AddEmbedding(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EmbedderOptions>().Bind(configuration.GetSection(EmbedderOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddImaging(configuration);
        services.TryAddSingleton<BatchingEmbedder>();
        services.AddModelRegistry();
        return services;
    }

    public static IServiceCollection AddModelRegistry(this IServiceCollection services)
    {
        services.TryAddSingleton<ModelRegistry>();
        return services;
    }
}
