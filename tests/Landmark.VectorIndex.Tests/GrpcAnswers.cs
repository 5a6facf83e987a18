using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// An <see cref="HttpMessageHandler"/> standing in for a gRPC server under a real <c>GrpcChannel</c>: it records each
/// call (path, authority, <c>api-key</c> metadata) and answers from a queue, either a message (one length-prefixed frame,
/// status OK in the trailers) or an error status (a trailers-only response).
/// </summary>
public sealed class GrpcAnswers : HttpMessageHandler
{
    private readonly Queue<Func<HttpResponseMessage>> _answers = new();
    private readonly object _sync = new();

    public List<GrpcCall> Requests { get; } = [];

    /// <summary>Queues a successful answer carrying <paramref name="message"/>.</summary>
    public GrpcAnswers Answer(IMessage message)
    {
        var payload = message.ToByteArray();
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1, 4), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return Enqueue(() =>
        {
            var response = Response(new ByteArrayContent(frame));
            response.TrailingHeaders.Add("grpc-status", "0");
            return response;
        });
    }

    /// <summary>Queues an error answer.</summary>
    public GrpcAnswers Fail(StatusCode status, string message) => Enqueue(() =>
    {
        var response = Response(new ByteArrayContent([]));
        response.Headers.Add("grpc-status", ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture));
        response.Headers.Add("grpc-message", message);
        return response;
    });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is not null)
        {
            await request.Content.ReadAsByteArrayAsync(cancellationToken);
        }
        Func<HttpResponseMessage>? answer;
        lock (_sync)
        {
            Requests.Add(new GrpcCall(
                request.RequestUri!.AbsolutePath,
                request.RequestUri.Authority,
                request.Headers.TryGetValues(QdrantConnection.ApiKeyHeader, out var keys) ? keys.Single() : null));
            if (!_answers.TryDequeue(out answer))
            {
                throw new InvalidOperationException($"Unexpected call {request.RequestUri}: no answer left.");
            }
        }
        var response = answer();
        response.RequestMessage = request;
        return response;
    }

    private GrpcAnswers Enqueue(Func<HttpResponseMessage> answer)
    {
        lock (_sync)
        {
            _answers.Enqueue(answer);
        }
        return this;
    }

    private static HttpResponseMessage Response(HttpContent content)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        return new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = content };
    }
}

/// <summary>One call as the server saw it.</summary>
public sealed record GrpcCall(string Path, string Authority, string? ApiKey);
