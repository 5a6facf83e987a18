using System.Diagnostics;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Recognition;
using GapResult = Landmark.Contracts.Api.V1.GapResult;

namespace Landmark.Scorer;

/// <summary>Evaluation (<c>landmark.v1.EvaluationService</c>): recognizes labelled queries and computes GAP.</summary>
public sealed class EvaluationApi(Recognizer recognizer, ILogger<EvaluationApi> logger) : EvaluationService.EvaluationServiceBase
{
    public const int Concurrency = 8;


    public override async Task Evaluate(IAsyncStreamReader<EvaluationQuery> requestStream, IServerStreamWriter<EvaluationUpdate> responseStream,
        ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var stopwatch = Stopwatch.StartNew();
        var predictions = new List<GapPrediction>();
        var errors = 0;
        var inFlight = new Queue<(EvaluationQuery Query, Task<(RecognizeResponse Response, ScorerOptions Settings)> Answer)>();
        RecognizeResponse? lastAnswer = null;
        ScorerOptions? lastSettings = null;

        async Task DrainOneAsync()
        {
            var (query, answer) = inFlight.Dequeue();
            var outcome = new QueryOutcome { QueryId = query.QueryId, TrueLandmarkId = query.TrueLandmarkId };
            string? truth = string.IsNullOrEmpty(query.TrueLandmarkId) ? null : query.TrueLandmarkId;
            try
            {
                var (response, settings) = await answer;
                (lastAnswer, lastSettings) = (response, settings);
                outcome.PredictedLandmarkId = response.LandmarkId;
                outcome.Confidence = response.Confidence;
                outcome.IsLandmark = response.IsLandmark;
                outcome.Neighbours.AddRange(response.Neighbours.Take(Math.Max(query.TopK, 0)));
                predictions.Add(new GapPrediction(string.IsNullOrEmpty(response.LandmarkId) ? null : response.LandmarkId, response.Confidence, truth));
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
            {
                errors++;
                outcome.Error = ex.Status.Detail;
                predictions.Add(new GapPrediction(null, 0, truth));
            }
            await responseStream.WriteAsync(new EvaluationUpdate { Processed = predictions.Count, Outcome = outcome }, ct);
        }

        await foreach (var query in requestStream.ReadAllAsync(ct))
        {
            // The scorer's VotingNeighbours vote whatever is asked here; top_k only says how many neighbours come back.
            inFlight.Enqueue((query, recognizer.RecognizeWithSettingsAsync(query.Image, Math.Clamp(query.TopK, 1, Recognizer.MaxNeighboursReturned), query.QueryId, ct)));
            if (inFlight.Count >= Concurrency)
            {
                await DrainOneAsync();
            }
        }
        while (inFlight.Count > 0)
        {
            await DrainOneAsync();
        }

        var result = ToProto(GlobalAveragePrecision.Compute(predictions));
        result.Errors = errors;
        result.QueriesPerSecond = predictions.Count / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-6);
        result.ModelVersion = lastAnswer?.ModelVersion ?? "";
        if (lastSettings is not null)
        {
            result.ScorerSettings.Add(ModelScorerSettings.Of(lastSettings).ToDictionary());
        }
        logger.LogInformation("Evaluation: GAP={Gap:F4} accuracy={Accuracy:F4} queries={Queries} ({Qps:F1}/s)",
            result.Gap, result.Accuracy, result.Queries, result.QueriesPerSecond);
        await responseStream.WriteAsync(new EvaluationUpdate { Processed = predictions.Count, Result = result }, ct);
    }

    public override Task<GapResult> ComputeGap(ComputeGapRequest request, ServerCallContext context)
    {
        var predictions = request.Predictions.Select(p => new GapPrediction(
            string.IsNullOrEmpty(p.PredictedLandmarkId) ? null : p.PredictedLandmarkId,
            p.Confidence,
            string.IsNullOrEmpty(p.TrueLandmarkId) ? null : p.TrueLandmarkId)).ToList();
        return Task.FromResult(ToProto(GlobalAveragePrecision.Compute(predictions)));
    }

    private static GapResult ToProto(Recognition.GapResult r) => new()
    {
        Gap = r.Gap,
        Accuracy = r.Accuracy,
        Queries = r.Queries,
        LandmarkQueries = r.LandmarkQueries,
        Correct = r.Correct,
    };
}
