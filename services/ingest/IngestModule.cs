using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>Registration of the ingest service, used by its own host and by the single-process platform host.</summary>
public static class IngestModule
{
    public const string ServiceName = "ingest";

    public static WebApplicationBuilder AddIngest(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<IngestOptions>(builder.Configuration, IngestOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IngestOptions>, IngestOptionsValidator>());
        builder.Services.TryAddSingleton<ImportRoots>();
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddImaging(builder.Configuration);
        builder.Services.TryAddSingleton<ImageCatalog>();
        builder.Services.TryAddSingleton<CatalogRollout>();
        builder.Services.AddScoped<ImageIngestor>();
        builder.Services.AddHostedService<CatalogStartup>();
        return builder;
    }

    /// <summary>Catalog updates: each update re-reads the record from storage and only moves its status forward, so
    /// replicas applying events in any order converge.</summary>
    public static void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddLandmarkConsumer<CatalogUpdateConsumer, CatalogUpdateConsumerDefinition>();
        bus.AddLandmarkConsumer<CatalogRolloutConsumer, CatalogRolloutConsumerDefinition>();
        bus.AddLandmarkConsumer<CatalogRolloutWatcher, CatalogRolloutWatcherDefinition>();
    }

    public static WebApplication MapIngest(this WebApplication app)
    {
        app.MapGrpcService<IngestApi>();
        return app;
    }
}

/// <summary>The ingest service as its own process.</summary>
public static class IngestHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(IngestModule.ServiceName);
        builder.AddIngest();
        builder.AddLandmarkMessaging(IngestModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapIngest();
        return app;
    }
}
