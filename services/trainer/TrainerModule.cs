using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Recognition;
using Landmark.ServiceDefaults;
using Landmark.Storage;
using Landmark.Training;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.Trainer;

/// <summary>Registration of the trainer service, used by its own host and by the single-process platform host.</summary>
public static class TrainerModule
{
    public const string ServiceName = "trainer";

    public static WebApplicationBuilder AddTrainer(this WebApplicationBuilder builder, bool oneShot = false)
    {
        builder.Services.TryAddSingleton(new TrainerMode(oneShot));
        builder.Services.AddObjectStore(builder.Configuration);
        builder.Services.AddImaging(builder.Configuration);
        builder.Services.AddModelRegistry();
        // One validator for every rule (annotations of nested sections included), also used for gRPC jobs and `trainer train`.
        builder.Services.AddSingleton<IValidateOptions<TrainingOptions>, TrainingOptionsValidator>();
        builder.Services.AddOptions<TrainingOptions>().Bind(builder.Configuration.GetSection(TrainingOptions.SectionName)).ValidateOnStart()
            .PostConfigure(options => TrainingOptionsBinder.ReplaceConfiguredArrays(options, builder.Configuration.GetSection(TrainingOptions.SectionName)));
        builder.Services.AddValidatedOptions<ScorerOptions>(builder.Configuration, ScorerOptions.SectionName);
        builder.Services.AddInternalGrpcClient<IngestService.IngestServiceClient>(e => e.Ingest);
        builder.Services.TryAddSingleton<TrainingJobStore>();
        builder.Services.TryAddSingleton<TrainingData>();
        builder.Services.TryAddSingleton<HeldOutEvaluation>();
        builder.Services.TryAddSingleton<TrainingJobRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingJobRunner>());
        builder.Services.TryAddSingleton<ModelRollout>();
        builder.Services.TryAddSingleton<IModelRollout>(sp => sp.GetRequiredService<ModelRollout>());
        builder.Services.AddHostedService<RolloutStartup>();
        builder.Services.AddValidatedOptions<ModelImportOptions>(builder.Configuration, ModelImportOptions.SectionName);
        builder.Services.TryAddSingleton<ModelImportService>();
        return builder;
    }

    /// <summary>Roll-out bookkeeping (<see cref="RolloutConsumerDefinition"/>: one message at a time).</summary>
    public static void AddConsumers(IBusRegistrationConfigurator bus)
    {
        bus.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsumerOptions>, RolloutConsumerOptionsValidator>());
        bus.AddLandmarkConsumer<RolloutConsumer, RolloutConsumerDefinition>();
    }

    public static WebApplication MapTrainer(this WebApplication app)
    {
        app.MapGrpcService<ModelApi>();
        app.MapGrpcService<TrainingApi>();
        return app;
    }
}

/// <summary>How this process runs training jobs: the service resumes its unfinished jobs at start-up; a one-shot
/// <c>trainer train</c> process runs only its own job.</summary>
public sealed record TrainerMode(bool OneShot);

/// <summary>The trainer service as its own process.</summary>
public static class TrainerHost
{
    public static WebApplication Build(string[] args, bool oneShot = false)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(TrainerModule.ServiceName);
        builder.AddTrainer(oneShot);
        builder.AddLandmarkMessaging(TrainerModule.AddConsumers);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTrainer();
        return app;
    }
}
