using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using Landmark.VectorIndex;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.Retrieval;

/// <summary>Registration of the retrieval service, used by its own host and by the single-process platform host.</summary>
public static class RetrievalModule
{
    public const string ServiceName = "retrieval";

    public static WebApplicationBuilder AddRetrieval(this WebApplicationBuilder builder)
    {
        builder.Services.AddInternalGrpcService<RetrievalApi>();
        builder.Services.AddVectorIndex(builder.Configuration);
        builder.Services.TryAddSingleton<GalleryIndex>();
        return builder;
    }

    public static void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddLandmarkConsumer<IndexConsumer, IndexConsumerDefinition>();
        bus.AddLandmarkConsumer<LiveAliasConsumer, LiveAliasConsumerDefinition>();
    }

    public static WebApplication MapRetrieval(this WebApplication app)
    {
        app.MapGrpcService<RetrievalApi>();
        return app;
    }
}

/// <summary>The retrieval service as its own process.</summary>
public static class RetrievalHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(RetrievalModule.ServiceName);
        builder.AddRetrieval();
        builder.AddLandmarkMessaging(RetrievalModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapRetrieval();
        return app;
    }
}
