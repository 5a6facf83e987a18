using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Embedding;
using Landmark.Onnx;
using Landmark.Contracts.Api;

namespace Landmark.Trainer;

/// <summary>The model registry API (<c>landmark.v1.ModelService</c>): versions, metrics, the live model, roll-out and
/// rollback (<see cref="ModelRollout"/>), import of users' models (<see cref="ModelImportService"/>).</summary>
public sealed class ModelApi(ModelRegistry registry, ModelRollout rollout, ModelImportService importer) : ModelService.ModelServiceBase
{
    public override Task<ImportModelResponse> ImportModel(IAsyncStreamReader<ImportModelRequest> requestStream, ServerCallContext context) =>
        importer.ImportAsync(requestStream, context);

    public override Task<RolloutStatus> PublishModel(PublishModelRequest request, ServerCallContext context) =>
        Guard(() => rollout.PublishAsync(request.Version, context.CancellationToken));

    public override Task<RolloutStatus> RollbackModel(RollbackModelRequest request, ServerCallContext context) =>
        Guard(() => rollout.RollbackAsync(request.Version, context.CancellationToken));

    public override Task<RolloutStatus> GetRollout(GetRolloutRequest request, ServerCallContext context) =>
        rollout.GetStatusAsync(context.CancellationToken);

    private static async Task<RolloutStatus> Guard(Func<Task<RolloutStatus>> call)
    {
        try
        {
            return await call();
        }
        catch (ModelNotRegisteredException ex)
        {
            throw ApiErrors.Create(StatusCode.NotFound, ErrorReasons.ModelNotFound, ex.Message,
                new Dictionary<string, string> { ["version"] = ex.Version });
        }
        catch (ArgumentException ex)
        {
            throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "version", ex.Message);
        }
        catch (InvalidOperationException ex)
        {
            throw ApiErrors.Create(StatusCode.FailedPrecondition, ErrorReasons.ModelNotServable, ex.Message);
        }
    }

    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var live = await registry.GetLiveAsync(context.CancellationToken);
        var page = Paging.Paginate(await registry.ListAsync(context.CancellationToken), m => Paging.TimeKey(m.CreatedAt, m.Version),
            request.PageSize, request.PageToken);
        var response = new ListModelsResponse { NextPageToken = page.NextPageToken };
        response.Models.AddRange(page.Items.Select(m => ToProto(m, m.Version == live?.Version)));
        return response;
    }

    public override async Task<ModelInfo> GetLiveModel(GetLiveModelRequest request, ServerCallContext context)
    {
        var live = await registry.GetLiveAsync(context.CancellationToken)
            ?? throw ApiErrors.Create(StatusCode.NotFound, ErrorReasons.NoLiveModel, "no model is live yet");
        return ToProto(live, true);
    }

    public static ModelInfo ToProto(ModelManifest m, bool live)
    {
        var info = new ModelInfo
        {
            Version = m.Version,
            Kind = ModelKinds.FromManifest(m.Kind),
            Description = m.Description,
            InputSize = m.InputSize,
            Dimension = m.Dimension,
            Live = live,
            CreateTime = Timestamp.FromDateTimeOffset(m.CreatedAt),
            ObjectKey = ModelRegistry.ModelKey(m.Version),
        };
        info.Mean.AddRange(m.Mean);
        info.Std.AddRange(m.Std);
        foreach (var (name, value) in m.Metrics)
        {
            info.Metrics[name] = value;
        }
        foreach (var (name, value) in m.ScorerSettings.ToDictionary())
        {
            info.ScorerSettings[name] = value;
        }
        return info;
    }
}
