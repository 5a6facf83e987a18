using System.Net;
using System.Xml.Linq;

namespace Landmark.Storage;

/// <summary>
/// HTTP handler under the MinIO SDK that turns the server's error answers into <see cref="S3ServiceException"/>s
/// carrying status, code and message: every 5xx / 429 answer, and every other 4xx answer with an error document.
/// Body-less 404s (HEAD) are left to the SDK, whose "bucket exists" and "stat" logic relies on its own exceptions.
/// </summary>
internal sealed class S3ErrorHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>Error documents are small; anything larger is not one.</summary>
    private const int MaxErrorBodyBytes = 64 * 1024;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        if (status < 400)
        {
            return response;
        }
        var transient = status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests;
        var hasBody = request.Method != HttpMethod.Head && response.Content.Headers.ContentLength is null or > 0;
        if (!transient && !hasBody)
        {
            return response;
        }
        using (response)
        {
            var (code, message, requestId) = hasBody ? await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false) : (null, null, null);
            if (!transient && code is null)
            {
                // Not an S3 error document: a proxy page or similar. Report what we know.
                code = response.ReasonPhrase;
            }
            requestId ??= response.Headers.TryGetValues("x-amz-request-id", out var ids) ? ids.FirstOrDefault() : null;
            throw new S3ServiceException(response.StatusCode, code, message, requestId, request.Method.Method,
                request.RequestUri?.AbsolutePath ?? "");
        }
    }

    private static async Task<(string? Code, string? Message, string? RequestId)> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            if (response.Content.Headers.ContentLength > MaxErrorBodyBytes)
            {
                return (null, null, null);
            }
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!body.TrimStart().StartsWith('<'))
            {
                return (null, null, null);
            }
            var root = XDocument.Parse(body).Root;
            string? Element(string name) => root?.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value is { Length: > 0 } v ? v : null;
            return (Element("Code"), Element("Message"), Element("RequestId"));
        }
        catch (Exception ex) when (ex is System.Xml.XmlException or IOException or HttpRequestException)
        {
            return (null, null, null);
        }
    }
}
