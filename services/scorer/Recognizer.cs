using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Recognition;
using Landmark.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Landmark.Scorer;

/// <summary>
/// Recognition of one photo: embed it (embedder), find its nearest landmark and non-landmark gallery images
/// (retrieval), vote (<see cref="KnnScorer"/>), and name the landmark (ingest's landmark list, cached).
/// </summary>
public sealed class Recognizer(
    EmbedderService.EmbedderServiceClient embedder,
    RetrievalService.RetrievalServiceClient retrieval,
    LandmarkNames names,
    IOptionsMonitor<ScorerOptions> scorerOptions,
    IOptions<ServiceEndpointsOptions> endpoints)
{
    /// <summary>Gallery images returned to the caller when the request's <c>top_k</c> is 0, and at most (requests ask
    /// for how many they see; how many vote is <see cref="ScorerOptions.VotingNeighbours"/>).</summary>
    public const int DefaultNeighboursReturned = 5;
    public const int MaxNeighboursReturned = 100;

    private static readonly ActivitySource Activity = new("Landmark.Scorer");
    private static readonly Meter Meter = new("Landmark.Scorer");
    private static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("landmark.recognize.duration", "s");
    private static readonly Counter<long> Answers = Meter.CreateCounter<long>("landmark.recognize.answers");

    public async Task<RecognizeResponse> RecognizeAsync(ByteString image, int neighboursReturned, string requestId, CancellationToken cancellationToken) =>
        (await RecognizeWithSettingsAsync(image, neighboursReturned, requestId, cancellationToken)).Response;

    /// <summary><see cref="RecognizeAsync"/> plus the scorer settings that made the answer (the configured ones with
    /// the embedding model's calibrated settings applied): what an evaluation report shows.</summary>
    public async Task<(RecognizeResponse Response, ScorerOptions Settings)> RecognizeWithSettingsAsync(ByteString image, int neighboursReturned, string requestId,
        CancellationToken cancellationToken)
    {
        using var activity = Activity.StartActivity("recognize");
        var started = Stopwatch.GetTimestamp();
        if (image.IsEmpty)
        {
            throw ApiErrors.Create(StatusCode.InvalidArgument, ErrorReasons.ImageEmpty, "empty: the image has no bytes",
                new Dictionary<string, string> { [ErrorReasons.RejectionCodeKey] = "empty" }, ("image", "the image has no bytes"));
        }
        neighboursReturned = NeighboursReturned(neighboursReturned);
        var embedRequest = new EmbedRequest();
        embedRequest.Images.Add(image);
        var embedded = await EmbedAsync(embedRequest, "image", cancellationToken);
        var vector = embedded.Embeddings[0].Values;
        // Settings calibrated for the model that embedded the query, over the configured ones.
        var options = scorerOptions.CurrentValue.WithModelSettings(ModelScorerSettings.FromDictionary(embedded.ScorerSettings));

        // One search serves both: the voters and the neighbours the caller sees.
        var landmarkTask = SearchAsync(vector, Math.Max(options.VotingNeighbours, neighboursReturned), ImageRole.Landmark, embedded.ModelVersion, cancellationToken);
        var nonLandmarkTask = options.NonLandmarkTopM > 0
            ? SearchAsync(vector, options.NonLandmarkTopM, ImageRole.NonLandmark, embedded.ModelVersion, cancellationToken)
            : Task.FromResult<IReadOnlyList<Hit>>([]);
        var landmarkHits = await landmarkTask;
        var nonLandmarkHits = await nonLandmarkTask;

        var scorer = new KnnScorer(options);
        var prediction = scorer.Score(
            landmarkHits.Select(h => new GalleryNeighbour(h.ImageId, h.LandmarkId, h.Score)).ToList(),
            nonLandmarkHits.Select(h => (double)h.Score).ToList());

        var landmarkNames = await names.GetAsync(cancellationToken);
        var response = new RecognizeResponse
        {
            RequestId = requestId,
            IsLandmark = prediction.IsLandmark,
            LandmarkId = prediction.LandmarkId ?? "",
            LandmarkName = prediction.LandmarkId is { } id ? landmarkNames.GetValueOrDefault(id, id) : "",
            Confidence = prediction.Confidence,
            ModelVersion = embedded.ModelVersion,
        };
        response.Candidates.AddRange(prediction.Candidates.Take(options.CandidateCount).Select(c => new Candidate
        {
            LandmarkId = c.LandmarkId,
            LandmarkName = landmarkNames.GetValueOrDefault(c.LandmarkId, c.LandmarkId),
            Score = c.Score,
        }));
        response.Neighbours.AddRange(landmarkHits.Take(neighboursReturned).Select(h => ToNeighbour(h, landmarkNames)));
        Latency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        Answers.Add(1, new KeyValuePair<string, object?>("is_landmark", prediction.IsLandmark));
        return (response, options);
    }

    public async Task<FindSimilarResponse> FindSimilarAsync(FindSimilarRequest request, CancellationToken cancellationToken)
    {
        var neighboursReturned = NeighboursReturned(request.TopK);
        IEnumerable<float> vector;
        string modelVersion;
        switch (request.QueryCase)
        {
            case FindSimilarRequest.QueryOneofCase.Image:
                var embedRequest = new EmbedRequest();
                embedRequest.Images.Add(request.Image);
                var embedded = await EmbedAsync(embedRequest, "image", cancellationToken);
                vector = embedded.Embeddings[0].Values;
                modelVersion = embedded.ModelVersion;
                break;
            case FindSimilarRequest.QueryOneofCase.ImageId:
                var found = await retrieval.GetVectorAsync(new GetVectorRequest { ImageId = request.ImageId }, endpoints.Value.Deadline(cancellationToken));
                if (!found.Found)
                {
                    throw ApiErrors.Create(StatusCode.NotFound, ErrorReasons.ImageNotIndexed, $"image '{request.ImageId}' is not in the index",
                        new Dictionary<string, string> { ["image_id"] = request.ImageId });
                }
                vector = found.Vector;
                modelVersion = "";
                break;
            default:
                throw ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "query", "set either image or image_id");
        }
        var hits = await SearchAsync(vector, neighboursReturned, request.IncludeNonLandmarks ? ImageRole.Unspecified : ImageRole.Landmark, modelVersion, cancellationToken);
        var landmarkNames = await names.GetAsync(cancellationToken);
        var response = new FindSimilarResponse { ModelVersion = modelVersion };
        response.Neighbours.AddRange(hits.Select(h => ToNeighbour(h, landmarkNames)));
        return response;
    }

    /// <summary>Embeds the query; an image the embedder refuses is this request's <paramref name="field"/> at fault (the
    /// embedder's reason and rejection code kept).</summary>
    private async Task<EmbedResponse> EmbedAsync(EmbedRequest request, string field, CancellationToken cancellationToken)
    {
        try
        {
            return await embedder.EmbedAsync(request, endpoints.Value.Deadline(cancellationToken));
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && ApiErrors.ErrorInfoOf(ex) is { } info)
        {
            throw ApiErrors.Create(StatusCode.InvalidArgument, info.Reason, ex.Status.Detail, info.Metadata, (field, ex.Status.Detail));
        }
    }

    /// <summary>A request's <c>top_k</c> as the number of neighbours returned: 0 or less = the default, capped.</summary>
    public static int NeighboursReturned(int requested) => requested <= 0 ? DefaultNeighboursReturned : Math.Min(requested, MaxNeighboursReturned);

    private async Task<IReadOnlyList<Hit>> SearchAsync(IEnumerable<float> vector, int nearest, ImageRole role, string modelVersion, CancellationToken ct)
    {
        var request = new SearchRequest { TopK = nearest, Role = role, ModelVersion = modelVersion };
        var query = new SearchQuery();
        query.Vector.AddRange(vector);
        request.Queries.Add(query);
        var response = await retrieval.SearchAsync(request, endpoints.Value.Deadline(ct));
        return response.Results.Count > 0 ? response.Results[0].Hits : [];
    }

    private static Neighbour ToNeighbour(Hit h, IReadOnlyDictionary<string, string> landmarkNames) => new()
    {
        ImageId = h.ImageId,
        LandmarkId = h.LandmarkId,
        LandmarkName = string.IsNullOrEmpty(h.LandmarkId) ? "" : landmarkNames.GetValueOrDefault(h.LandmarkId, h.LandmarkId),
        Similarity = h.Score,
        FileName = h.FileName,
        ExternalId = h.ExternalId,
        Role = h.Role,
    };
}

/// <summary>Landmark display names from the ingest service, cached for a short while.</summary>
public sealed class LandmarkNames(IngestService.IngestServiceClient ingest, IOptions<ServiceEndpointsOptions> endpoints)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IReadOnlyDictionary<string, string> _names = new Dictionary<string, string>();
    private DateTime _expires = DateTime.MinValue;

    public async Task<IReadOnlyDictionary<string, string>> GetAsync(CancellationToken cancellationToken)
    {
        if (DateTime.UtcNow < _expires)
        {
            return _names;
        }
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (DateTime.UtcNow >= _expires)
            {
                var names = new Dictionary<string, string>(StringComparer.Ordinal);
                var request = new ListLandmarksRequest { PageSize = Paging.MaxPageSize };
                do
                {
                    var page = await ingest.ListLandmarksAsync(request, endpoints.Value.Deadline(cancellationToken));
                    foreach (var landmark in page.Landmarks)
                    {
                        names[landmark.LandmarkId] = landmark.Name;
                    }
                    request.PageToken = page.NextPageToken;
                }
                while (request.PageToken.Length > 0);
                _names = names;
                _expires = DateTime.UtcNow + Lifetime;
            }
            return _names;
        }
        finally
        {
            _gate.Release();
        }
    }
}
