using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using GapResult = Landmark.Contracts.Api.V1.GapResult;

namespace Landmark.Reporting;

/// <summary>An evaluation's result and every query's outcome (in the order the server answered).</summary>
public sealed record EvaluationRun(GapResult Result, IReadOnlyList<QueryOutcome> Outcomes);

/// <summary>Streams a query split through <c>landmark.v1.EvaluationService/Evaluate</c> and keeps what comes back. Answers
/// are read while queries are sent (with neighbours they outgrow HTTP/2's flow-control window, so a client that sent
/// everything first would wait for ever).</summary>
public static class EvaluationRunner
{
    /// <summary>Nearest gallery photos asked for with each query (shown beside misses and false alarms).</summary>
    public const int Neighbours = 5;

    /// <summary>Sends every query (image bytes, id, true landmark), prints progress and unusable queries to
    /// <paramref name="log"/>; null when the server ended the stream without a result.</summary>
    public static async Task<EvaluationRun?> RunAsync(EvaluationService.EvaluationServiceClient client, IReadOnlyList<DatasetImage> queries,
        TextWriter? log, CancellationToken cancellationToken)
    {
        using var call = client.Evaluate(cancellationToken: cancellationToken);
        var send = Task.Run(async () =>
        {
            foreach (var q in queries)
            {
                await call.RequestStream.WriteAsync(new EvaluationQuery
                {
                    Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(q.Path, cancellationToken)),
                    QueryId = q.Id,
                    TrueLandmarkId = q.LandmarkId ?? "",
                    TopK = Neighbours,
                }, cancellationToken);
            }
            await call.RequestStream.CompleteAsync();
        }, cancellationToken);
        GapResult? result = null;
        var outcomes = new List<QueryOutcome>(queries.Count);
        await foreach (var update in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            if (update.Outcome is { } outcome)
            {
                outcomes.Add(outcome);
                if (outcome.Error.Length > 0)
                {
                    log?.WriteLine($"  query {outcome.QueryId}: {outcome.Error}");
                }
            }
            if (update.Result is not null)
            {
                result = update.Result;
            }
            else if (update.Processed % 50 == 0)
            {
                log?.WriteLine($"  ... {update.Processed}/{queries.Count}");
            }
        }
        await send;
        return result is null ? null : new EvaluationRun(result, outcomes);
    }
}
