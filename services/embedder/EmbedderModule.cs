using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.Embedder;

/// <summary>Registration of the embedder service, used by its own host and by the single-process platform host.</summary>
public static class EmbedderModule
{
    public const string ServiceName = "embedder";

    public static WebApplicationBuilder AddEmbedder(this WebApplicationBuilder builder)
    {
        builder.Services.AddInternalGrpcService<EmbedderApi>();
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddImaging(builder.Configuration);
        builder.Services.AddEmbedding(builder.Configuration);
        builder.Services.TryAddSingleton<ModelHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        builder.Services.AddHealthChecks().AddCheck<ModelHost>("model", tags: [ServiceDefaultsExtensions.ReadyTag]);
        return builder;
    }

    public static void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddLandmarkConsumer<EmbedConsumer, EmbedConsumerDefinition>();
        bus.AddLandmarkConsumer<ReembedConsumer, ReembedConsumerDefinition>();
        bus.AddLandmarkConsumer<LiveModelSwitchConsumer, LiveModelSwitchConsumerDefinition>();
    }

    public static WebApplication MapEmbedder(this WebApplication app)
    {
        app.MapGrpcService<EmbedderApi>();
        return app;
    }
}

/// <summary>The embedder service as its own process.</summary>
public static class EmbedderHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(EmbedderModule.ServiceName);
        builder.AddEmbedder();
        builder.AddLandmarkMessaging(EmbedderModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapEmbedder();
        return app;
    }
}
