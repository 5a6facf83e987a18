using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Landmark.Storage;

/// <summary>Registration of the object store.</summary>
public static class ObjectStoreServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="StorageOptions"/> from <c>Landmark:Storage</c> (data annotations and
    /// <see cref="StorageOptionsValidator"/>, checked at start-up: an S3 provider needs Endpoint, AccessKey and
    /// SecretKey), registers the configured provider as the singleton <see cref="IObjectStore"/>
    /// (<see cref="LocalDiskObjectStore"/> or <see cref="S3ObjectStore"/>, the latter also resolvable as itself for
    /// presigned URLs), the hosted <see cref="BucketInitializer"/> and the readiness check
    /// <see cref="ObjectStoreHealthCheck"/>. Idempotent.
    /// </summary>
    public static IServiceCollection AddObjectStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(ObjectStoreRegistered)))
        {
            return services;
        }
        services.AddSingleton<ObjectStoreRegistered>();

        services.AddOptions<StorageOptions>()
            .Bind(configuration.GetSection(StorageOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>());

        services.TryAddSingleton(sp => new S3ObjectStore(sp.GetRequiredService<IOptions<StorageOptions>>(), sp.GetRequiredService<ILogger<S3ObjectStore>>()));
        services.TryAddSingleton(sp => new LocalDiskObjectStore(sp.GetRequiredService<IOptions<StorageOptions>>(), sp.GetRequiredService<ILogger<LocalDiskObjectStore>>()));
        services.TryAddSingleton<IObjectStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return options.Provider switch
            {
                StorageProvider.Local => sp.GetRequiredService<LocalDiskObjectStore>(),
                StorageProvider.S3 => sp.GetRequiredService<S3ObjectStore>(),
                _ => throw new InvalidOperationException($"Unknown storage provider '{options.Provider}'."),
            };
        });
        services.AddHostedService<BucketInitializer>();
        services.AddHealthChecks().AddCheck<ObjectStoreHealthCheck>(ObjectStoreHealthCheck.Name, tags: [ObjectStoreHealthCheck.ReadyTag]);
        return services;
    }

    /// <summary>Marks that <see cref="AddObjectStore"/> ran (keeps it idempotent).</summary>
    private sealed class ObjectStoreRegistered;
}
