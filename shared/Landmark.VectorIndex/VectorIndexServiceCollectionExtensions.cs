using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>Registration of the vector index.</summary>
public static class VectorIndexServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="VectorIndexOptions"/> from <c>Landmark:Index</c> (data annotations and
    /// <see cref="VectorIndexOptionsValidator"/>, checked at start-up: a Qdrant provider needs a valid Url), registers
    /// the configured provider as the singleton <see cref="IVectorIndex"/> (<see cref="EmbeddedVectorIndex"/> or
    /// <see cref="QdrantVectorIndex"/>, whose named <see cref="HttpClient"/> gets the standard resilience handler) and
    /// the readiness check <see cref="VectorIndexHealthCheck"/>. Idempotent.
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

        services.AddHttpClient(QdrantVectorIndex.HttpClientName, client =>
            {
                // The resilience handler enforces the per-attempt and total timeouts.
                client.Timeout = System.Threading.Timeout.InfiniteTimeSpan;
            })
            .AddStandardResilienceHandler()
            .Configure(resilience =>
            {
                // Read straight from configuration: the options themselves are validated (and reported) on their own.
                var seconds = configuration.GetSection(VectorIndexOptions.SectionName).GetValue<int?>("Qdrant:TimeoutSeconds") ?? new QdrantOptions().TimeoutSeconds;
                var attempt = TimeSpan.FromSeconds(Math.Clamp(seconds, 1, 600));
                resilience.AttemptTimeout.Timeout = attempt;
                resilience.TotalRequestTimeout.Timeout = attempt * 3;
                resilience.CircuitBreaker.SamplingDuration = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, (attempt * 2).Ticks));
            });

        services.TryAddSingleton<IVectorIndex>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<VectorIndexOptions>>();
            return options.Value.Provider switch
            {
                VectorIndexProvider.Embedded => new EmbeddedVectorIndex(options.Value.Embedded, sp.GetService<ILogger<EmbeddedVectorIndex>>()),
                VectorIndexProvider.Qdrant => new QdrantVectorIndex(sp.GetRequiredService<IHttpClientFactory>(), options, sp.GetService<ILogger<QdrantVectorIndex>>()),
                _ => throw new InvalidOperationException($"Unknown vector index provider '{options.Value.Provider}'."),
            };
        });

        services.AddHealthChecks().AddCheck<VectorIndexHealthCheck>(VectorIndexHealthCheck.Name, tags: [VectorIndexHealthCheck.ReadyTag]);
        return services;
    }

    /// <summary>Marks that <see cref="AddVectorIndex"/> ran (keeps it idempotent).</summary>
    private sealed class VectorIndexRegistered;
}
