using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.VectorIndex;

namespace Landmark.Retrieval;

/// <summary>Internal nearest-neighbour API (<c>landmark.internal.v1.RetrievalService</c>).</summary>
public sealed class RetrievalApi(GalleryIndex gallery) : RetrievalService.RetrievalServiceBase
{
    public const int MaxTopK = 1000;

    public override async Task<SearchResponse> Search(SearchRequest request, ServerCallContext context)
    {
        if (request.TopK is < 1 or > MaxTopK)
        {
            throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "top_k", $"top_k must be between 1 and {MaxTopK}");
        }
        var response = new SearchResponse();
        var collection = await gallery.ResolveAsync(request.ModelVersion, context.CancellationToken);
        if (collection is null)
        {
            // Nothing indexed yet for this model: every query has no neighbours.
            foreach (var _ in request.Queries)
            {
                response.Results.Add(new HitList());
            }
            return response;
        }
        response.IndexVersion = collection;
        var filter = request.Role switch
        {
            ImageRole.Landmark => PayloadFilter.Equal(PayloadKeys.Role, GalleryIndex.RoleLandmark),
            ImageRole.NonLandmark => PayloadFilter.Equal(PayloadKeys.Role, GalleryIndex.RoleNonLandmark),
            _ => null,
        };
        var queries = request.Queries.Select(q => q.Vector.ToArray()).ToList();
        IReadOnlyList<IReadOnlyList<SearchHit>> results;
        try
        {
            results = await gallery.Index.SearchAsync(collection, queries, request.TopK, filter, context.CancellationToken);
        }
        catch (ArgumentException ex)
        {
            throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "queries", ex.Message);
        }
        foreach (var hits in results)
        {
            var list = new HitList();
            list.Hits.AddRange(hits.Select(ToHit));
            response.Results.Add(list);
        }
        return response;
    }

    public override async Task<GetVectorResponse> GetVector(GetVectorRequest request, ServerCallContext context)
    {
        var collection = await gallery.ResolveAsync(null, context.CancellationToken);
        if (collection is null || await gallery.Index.GetAsync(collection, request.ImageId, context.CancellationToken) is not { } point)
        {
            return new GetVectorResponse { Found = false };
        }
        var response = new GetVectorResponse
        {
            Found = true,
            LandmarkId = point.Payload.GetValueOrDefault(PayloadKeys.LandmarkId) ?? "",
            Role = ParseRole(point.Payload.GetValueOrDefault(PayloadKeys.Role)),
        };
        response.Vector.AddRange(point.Vector);
        return response;
    }

    public override async Task<IndexStats> GetIndexStats(GetIndexStatsRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var collection = await gallery.ResolveAsync(request.ModelVersion, ct);
        if (collection is null)
        {
            return new IndexStats();
        }
        return new IndexStats
        {
            IndexVersion = collection,
            ModelVersion = request.ModelVersion,
            Points = await gallery.Index.CountAsync(collection, null, ct),
            LandmarkPoints = await gallery.Index.CountAsync(collection, PayloadFilter.Equal(PayloadKeys.Role, GalleryIndex.RoleLandmark), ct),
            NonLandmarkPoints = await gallery.Index.CountAsync(collection, PayloadFilter.Equal(PayloadKeys.Role, GalleryIndex.RoleNonLandmark), ct),
        };
    }

    private static Hit ToHit(SearchHit h) => new()
    {
        ImageId = h.Payload.GetValueOrDefault(PayloadKeys.ImageId) ?? h.Id,
        LandmarkId = h.Payload.GetValueOrDefault(PayloadKeys.LandmarkId) ?? "",
        Role = ParseRole(h.Payload.GetValueOrDefault(PayloadKeys.Role)),
        Score = h.Score,
        FileName = h.Payload.GetValueOrDefault(GalleryIndex.FileNameKey) ?? "",
        ExternalId = h.Payload.GetValueOrDefault(GalleryIndex.ExternalIdKey) ?? "",
    };

    private static ImageRole ParseRole(string? role) => role switch
    {
        GalleryIndex.RoleLandmark => ImageRole.Landmark,
        GalleryIndex.RoleNonLandmark => ImageRole.NonLandmark,
        _ => ImageRole.Unspecified,
    };
}
