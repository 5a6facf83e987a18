using Landmark.Embedding;
using Landmark.ServiceDefaults;
using Landmark.Storage;

namespace Landmark.Trainer;

/// <summary>Registration of the trainer service, used by its own host and by the single-process platform host.</summary>
public static class TrainerModule
{
    public const string ServiceName = "trainer";

    public static WebApplicationBuilder AddTrainer(this WebApplicationBuilder builder)
    {
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddModelRegistry();
        return builder;
    }

    public static WebApplication MapTrainer(this WebApplication app)
    {
        app.MapGrpcService<ModelApi>();
        return app;
    }
}

/// <summary>The trainer service as its own process.</summary>
public static class TrainerHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults(TrainerModule.ServiceName);
        builder.AddTrainer();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTrainer();
        return app;
    }
}
