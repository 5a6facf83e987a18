using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Preprocess;

/// <summary>Registration of the preprocess service, used by its own host and by the single-process platform host.</summary>
public static class PreprocessModule
{
    public const string ServiceName = "preprocess";

    public static WebApplicationBuilder AddPreprocess(this WebApplicationBuilder builder)
    {
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddImaging(builder.Configuration);
        builder.Services.AddValidatedOptions<PreprocessOptions>(builder.Configuration, PreprocessOptions.SectionName);
        return builder;
    }

    public static void AddConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddLandmarkConsumer<PreprocessConsumer, PreprocessConsumerDefinition>();
}

/// <summary>The preprocess service as its own process (consumers plus health and metrics).</summary>
public static class PreprocessHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(PreprocessModule.ServiceName);
        builder.AddPreprocess();
        builder.AddLandmarkMessaging(PreprocessModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        return app;
    }
}
