using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.Storage;

public static class ObjectStoreServiceCollectionExtensions
{
    /// <summary>Binds <see cref="StorageOptions"/> from <c>Landmark:Storage</c> (validated at start-up) and registers the
    /// configured <see cref="IObjectStore"/> as a singleton. Idempotent.</summary>
    public static IServiceCollection AddObjectStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>()
            .Bind(configuration.GetSection(StorageOptions.SectionName))
            .ValidateDataAnnotations()
            .Validate(o => o.Provider != StorageProvider.S3 ||
                    (!string.IsNullOrWhiteSpace(o.S3.Endpoint) && !string.IsNullOrWhiteSpace(o.S3.AccessKey) && !string.IsNullOrWhiteSpace(o.S3.SecretKey)),
                "Landmark:Storage:S3 needs Endpoint, AccessKey and SecretKey when Provider is S3.")
            .ValidateOnStart();
        services.TryAddSingleton<IObjectStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>();
            return options.Value.Provider switch
            {
                StorageProvider.Local => new LocalDiskObjectStore(options),
                StorageProvider.S3 => CreateS3(sp),
                _ => throw new InvalidOperationException($"Unknown storage provider '{options.Value.Provider}'."),
            };
        });
        if (!services.Any(d => d.ImplementationType == typeof(BucketInitializer)))
        {
            services.AddHostedService<BucketInitializer>();
        }
        return services;
    }

    private static IObjectStore CreateS3(IServiceProvider sp) => ActivatorUtilities.CreateInstance<S3ObjectStore>(sp);
}
