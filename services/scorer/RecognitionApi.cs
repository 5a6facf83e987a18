using System.Threading.Channels;
using Grpc.Core;
using Landmark.Contracts.Api.V1;

namespace Landmark.Scorer;

/// <summary>The public recognition API (<c>landmark.v1.RecognitionService</c>).</summary>
public sealed class RecognitionApi(Recognizer recognizer) : RecognitionService.RecognitionServiceBase
{
    /// <summary>Requests of one stream processed at once (their embeddings are batched by the embedder).</summary>
    public const int StreamConcurrency = 8;

    public override Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context) =>
        recognizer.RecognizeAsync(request.Image, request.TopK, request.RequestId, context.CancellationToken);

    public override async Task RecognizeStream(IAsyncStreamReader<RecognizeRequest> requestStream,
        IServerStreamWriter<RecognizeResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        // Answers leave in request order; up to StreamConcurrency requests are in flight.
        var pending = Channel.CreateBounded<Task<RecognizeResponse>>(StreamConcurrency);
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var request in requestStream.ReadAllAsync(ct))
                {
                    await pending.Writer.WriteAsync(recognizer.RecognizeAsync(request.Image, request.TopK, request.RequestId, ct), ct);
                }
                pending.Writer.Complete();
            }
            catch (Exception ex)
            {
                pending.Writer.Complete(ex);
            }
        }, ct);
        await foreach (var answer in pending.Reader.ReadAllAsync(ct))
        {
            await responseStream.WriteAsync(await answer, ct);
        }
        await reader;
    }

    public override Task<FindSimilarResponse> FindSimilar(FindSimilarRequest request, ServerCallContext context) =>
        recognizer.FindSimilarAsync(request, context.CancellationToken);
}
