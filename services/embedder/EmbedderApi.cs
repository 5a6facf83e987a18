using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Internal.V1;
using Landmark.Embedding;
using Landmark.Imaging;

namespace Landmark.Embedder;

/// <summary>Internal embedding API for queries (<c>landmark.internal.v1.EmbedderService</c>); concurrent calls share batches.</summary>
public sealed class EmbedderApi(BatchingEmbedder embedder, ModelHost models) : EmbedderService.EmbedderServiceBase
{
    public const int MaxImagesPerCall = 256;

    public override async Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context)
    {
        if (request.Images.Count is 0 or > MaxImagesPerCall)
        {
            throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "images", $"send between 1 and {MaxImagesPerCall} images");
        }
        await models.Ready.WaitAsync(context.CancellationToken);
        var response = new EmbedResponse();
        try
        {
            var results = await Task.WhenAll(request.Images.Select(i => embedder.EmbedWithManifestAsync(i.Memory, context.CancellationToken)));
            foreach (var (vector, _) in results)
            {
                var embedding = new Contracts.Internal.V1.Embedding();
                embedding.Values.AddRange(vector);
                response.Embeddings.Add(embedding);
            }
            // All images of one call are embedded by the model that was live when the call started or a newer one;
            // report the version of the last image so callers search the matching index.
            var model = results[^1].Model;
            response.ModelVersion = model.Version;
            if (results.Any(r => r.Model.Version != response.ModelVersion))
            {
                throw ApiErrors.Create(StatusCode.Unavailable, ErrorReasons.LiveModelChanged, "the live model changed during the call; retry");
            }
            foreach (var (key, value) in model.ScorerSettings.ToDictionary())
            {
                response.ScorerSettings[key] = value;
            }
        }
        catch (ImageRejectedException ex)
        {
            throw ApiErrors.Create(StatusCode.InvalidArgument, ErrorReasons.ForRejection(ex.Code), ex.Message,
                new Dictionary<string, string> { [ErrorReasons.RejectionCodeKey] = ex.Code }, ("images", ex.Message));
        }
        catch (EmbedderOverloadedException ex)
        {
            throw ApiErrors.Create(StatusCode.ResourceExhausted, ErrorReasons.EmbedderOverloaded, ex.Message);
        }
        return response;
    }
}
