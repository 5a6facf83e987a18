using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.Trainer;

/// <summary>Registration of the trainer service, used by its own host and by the single-process platform host.</summary>
public static class TrainerModule
{
    public const string ServiceName = "trainer";

    public static WebApplicationBuilder AddTrainer(this WebApplicationBuilder builder)
    {
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddModelRegistry();
        builder.Services.TryAddSingleton<ModelRollout>();
        builder.Services.TryAddSingleton<IModelRollout>(sp => sp.GetRequiredService<ModelRollout>());
        builder.Services.AddHostedService<RolloutStartup>();
        return builder;
    }

    /// <summary>Roll-out bookkeeping: one message at a time, so progress and activation never interleave.</summary>
    public static void AddConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<RolloutConsumer>(c => c.ConcurrentMessageLimit = 1).Endpoint(e => e.Name = QueueNames.ModelUpdates);

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
        builder.AddLandmarkMessaging(TrainerModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTrainer();
        return app;
    }
}
