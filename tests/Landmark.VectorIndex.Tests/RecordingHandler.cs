using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Landmark.VectorIndex.Tests;

/// <summary>An <see cref="HttpMessageHandler"/> that records every request and answers with queued canned responses.</summary>
public sealed class RecordingHandler : HttpMessageHandler
{
    private readonly Queue<(HttpStatusCode Status, string Body)> _responses = new();
    private readonly object _sync = new();

    public List<RecordedRequest> Requests { get; } = [];

    /// <summary>Queues the answer to the next request.</summary>
    public RecordingHandler Respond(string json, HttpStatusCode status = HttpStatusCode.OK)
    {
        lock (_sync)
        {
            _responses.Enqueue((status, json));
        }
        return this;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var text = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        (HttpStatusCode Status, string Body) response;
        lock (_sync)
        {
            Requests.Add(new RecordedRequest(
                request.Method.Method,
                request.RequestUri!.PathAndQuery,
                request.RequestUri.GetLeftPart(UriPartial.Authority),
                request.Headers.TryGetValues(QdrantVectorIndex.ApiKeyHeader, out var keys) ? keys.Single() : null,
                text is null ? null : JsonNode.Parse(text)));
            if (!_responses.TryDequeue(out response))
            {
                throw new InvalidOperationException($"Unexpected request {request.Method} {request.RequestUri}: no canned response left.");
            }
        }
        return new HttpResponseMessage(response.Status)
        {
            Content = new StringContent(response.Body, Encoding.UTF8, "application/json"),
            RequestMessage = request,
        };
    }
}

/// <summary>One request as the server saw it.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, string Authority, string? ApiKey, JsonNode? Body);

/// <summary>Hands out clients over one handler (what <see cref="IHttpClientFactory"/> does, minus the pipeline).</summary>
public sealed class HandlerClientFactory(HttpMessageHandler handler) : IHttpClientFactory
{
    public HttpClient CreateClient(string name) => new(handler, disposeHandler: false);
}
