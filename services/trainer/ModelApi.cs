using System.Globalization;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Embedding;
using Landmark.Onnx;

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
            throw new RpcException(new Status(StatusCode.NotFound, ex.Message));
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }
        catch (InvalidOperationException ex)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, ex.Message));
        }
    }

    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var live = await registry.GetLiveAsync(context.CancellationToken);
        var response = new ListModelsResponse();
        foreach (var manifest in await registry.ListAsync(context.CancellationToken))
        {
            response.Models.Add(ToProto(manifest, manifest.Version == live?.Version));
        }
        return response;
    }

    public override async Task<ModelInfo> GetLiveModel(GetLiveModelRequest request, ServerCallContext context)
    {
        var live = await registry.GetLiveAsync(context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, "no model is live yet"));
        return ToProto(live, true);
    }

    internal static ModelInfo ToProto(ModelManifest m, bool live)
    {
        var info = new ModelInfo
        {
            Version = m.Version,
            Kind = m.Kind,
            Description = m.Description,
            InputSize = m.InputSize,
            Dimension = m.Dimension,
            Live = live,
            CreatedAt = m.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
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
