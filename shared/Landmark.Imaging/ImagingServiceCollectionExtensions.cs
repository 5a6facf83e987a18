using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.Imaging;

public static class ImagingServiceCollectionExtensions
{
    /// <summary>Registers <see cref="ImagePipeline"/> with options from <c>Landmark:Imaging</c>, validated at start-up (idempotent).</summary>
    public static IServiceCollection AddImaging(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ImagingOptions>().Bind(configuration.GetSection(ImagingOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(sp => new ImagePipeline(sp.GetRequiredService<IOptions<ImagingOptions>>().Value));
        return services;
    }
}
