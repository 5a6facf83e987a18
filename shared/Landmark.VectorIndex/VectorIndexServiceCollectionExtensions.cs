using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Qdrant.Client;

namespace Landmark.VectorIndex;

/// <summary>Registration of the vector index.</summary>
public static class VectorIndexServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="VectorIndexOptions"/> from <c>Landmark:Index</c> (data annotations and
    /// <see cref="VectorIndexOptionsValidator"/>, checked at start-up: a Qdrant provider needs a valid Url), registers
    /// the configured provider as the singleton <see cref="IVectorIndex"/> (<see cref="EmbeddedVectorIndex"/> or
    /// <see cref="QdrantVectorIndex"/> over the official client: <see cref="IQdrantClient"/> from a <see cref="QdrantConnection"/>
    /// with retries and deadlines) and the readiness check <see cref="VectorIndexHealthCheck"/>. Idempotent.
    /// </summary>
    public static IServiceCollection AddVectorIndex(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(VectorIndexRegistered)))
        {
            return services;
        }
        services.AddSingleton<VectorIndexRegistered>();

        services.AddOptions<VectorIndexOptions>()
            .Bind(configuration.GetSection(VectorIndexOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<VectorIndexOptions>, VectorIndexOptionsValidator>());

        // Built only when the provider is Qdrant (resolved lazily); tests replace IQdrantClient with a substitute.
        services.TryAddSingleton(sp => new QdrantConnection(
            sp.GetRequiredService<IOptions<VectorIndexOptions>>().Value.Qdrant, sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<IQdrantClient>(sp => sp.GetRequiredService<QdrantConnection>().Client);

        services.TryAddSingleton<IVectorIndex>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<VectorIndexOptions>>();
            return options.Value.Provider switch
            {
                VectorIndexProvider.Embedded => new EmbeddedVectorIndex(options.Value.Embedded, sp.GetService<ILogger<EmbeddedVectorIndex>>()),
                VectorIndexProvider.Qdrant => new QdrantVectorIndex(sp.GetRequiredService<IQdrantClient>(), options, sp.GetService<ILogger<QdrantVectorIndex>>()),
                _ => throw new InvalidOperationException($"Unknown vector index provider '{options.Value.Provider}'."),
            };
        });

        services.AddHealthChecks().AddCheck<VectorIndexHealthCheck>(VectorIndexHealthCheck.Name, tags: [VectorIndexHealthCheck.ReadyTag]);
        return services;
    }

    /// <summary>Marks that <see cref="AddVectorIndex"/> ran (keeps it idempotent).</summary>
    private sealed class VectorIndexRegistered;
}
