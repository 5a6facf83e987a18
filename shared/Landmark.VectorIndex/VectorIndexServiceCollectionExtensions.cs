using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

public static class VectorIndexServiceCollectionExtensions
{
    /// <summary>Binds <see cref="VectorIndexOptions"/> from <c>Landmark:Index</c> (validated at start-up) and registers the
    /// configured <see cref="IVectorIndex"/> as a singleton. Idempotent.</summary>
    public static IServiceCollection AddVectorIndex(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<VectorIndexOptions>()
            .Bind(configuration.GetSection(VectorIndexOptions.SectionName))
            .ValidateDataAnnotations()
            .Validate(o => o.Provider != VectorIndexProvider.Qdrant || Uri.TryCreate(o.Qdrant.Url, UriKind.Absolute, out _),
                "Landmark:Index:Qdrant:Url must be an absolute URL when Provider is Qdrant.")
            .ValidateOnStart();
        services.AddHttpClient(QdrantVectorIndex.HttpClientName, (sp, client) =>
            {
                var qdrant = sp.GetRequiredService<IOptions<VectorIndexOptions>>().Value.Qdrant;
                client.BaseAddress = new Uri(qdrant.Url.TrimEnd('/') + "/");
                client.Timeout = TimeSpan.FromSeconds(qdrant.TimeoutSeconds);
                if (!string.IsNullOrEmpty(qdrant.ApiKey))
                {
                    client.DefaultRequestHeaders.Add("api-key", qdrant.ApiKey);
                }
            })
            .AddStandardResilienceHandler();
        services.TryAddSingleton<IVectorIndex>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<VectorIndexOptions>>();
            return options.Value.Provider switch
            {
                VectorIndexProvider.Embedded => ActivatorUtilities.CreateInstance<EmbeddedVectorIndex>(sp, options),
                VectorIndexProvider.Qdrant => ActivatorUtilities.CreateInstance<QdrantVectorIndex>(sp),
                _ => throw new InvalidOperationException($"Unknown index provider '{options.Value.Provider}'."),
            };
        });
        return services;
    }
}
