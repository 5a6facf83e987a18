using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Recognition;
using Landmark.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.Scorer;

/// <summary>Registration of the scorer service, used by its own host and by the single-process platform host.</summary>
public static class ScorerModule
{
    public const string ServiceName = "scorer";

    public static WebApplicationBuilder AddScorer(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ScorerOptions>(builder.Configuration, ScorerOptions.SectionName);
        builder.Services.AddInternalGrpcClient<EmbedderService.EmbedderServiceClient>(e => e.Embedder);
        builder.Services.AddInternalGrpcClient<RetrievalService.RetrievalServiceClient>(e => e.Retrieval);
        builder.Services.AddInternalGrpcClient<IngestService.IngestServiceClient>(e => e.Ingest);
        builder.Services.TryAddSingleton<LandmarkNames>();
        builder.Services.AddScoped<Recognizer>();
        return builder;
    }

    public static WebApplication MapScorer(this WebApplication app)
    {
        app.MapGrpcService<RecognitionApi>();
        app.MapGrpcService<EvaluationApi>();
        return app;
    }
}

/// <summary>The scorer service as its own process.</summary>
public static class ScorerHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        builder.AddServiceDefaults(ScorerModule.ServiceName);
        builder.AddScorer();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapScorer();
        return app;
    }
}
