using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.Imaging;

public static class ImagingServiceCollectionExtensions
{
    /// <summary>Registers <see cref="ImagePipeline"/> (a thread-safe singleton) and the process-wide
    /// <see cref="DecodeBudget"/> with options from <c>Landmark:Imaging</c>, validated at start-up. Idempotent.</summary>
    public static IServiceCollection AddImaging(this IServiceCollection services, IConfiguration configuration)
    {
        if (services.Any(d => d.ServiceType == typeof(ImagePipeline)))
        {
            return services;
        }
        var section = configuration.GetSection(ImagingOptions.SectionName);
        services.AddOptions<ImagingOptions>()
            .Bind(section)
            .Configure(options =>
            {
                // The binder appends configured list items to the defaults; configured variants replace them instead.
                var variants = section.GetSection(nameof(ImagingOptions.Variants));
                if (variants.GetChildren().Any())
                {
                    options.Variants = variants.Get<List<VariantSpec>>() ?? [];
                }
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        // One decode budget per process: the preprocess consumer, the embedder and the scorer share it in the
        // single-process host.
        services.TryAddSingleton(sp => DecodeBudget.FromOptions(sp.GetRequiredService<IOptions<ImagingOptions>>().Value));
        services.TryAddSingleton(sp => new ImagePipeline(sp.GetRequiredService<IOptions<ImagingOptions>>().Value, sp.GetRequiredService<DecodeBudget>()));
        return services;
    }
}
