using System.Net;

namespace Landmark.Storage;

/// <summary>The object store could not be reached or kept failing with transient errors (connection refused, timeouts,
/// HTTP 5xx, throttling) after <see cref="Attempts"/> attempts. The cause is the <see cref="Exception.InnerException"/>.</summary>
public sealed class ObjectStoreUnavailableException(string message, int attempts, Exception innerException)
    : IOException(message, innerException)
{
    /// <summary>How many times the operation was tried.</summary>
    public int Attempts { get; } = attempts;
}

/// <summary>
/// An error answer of the S3 server, with its HTTP status and S3 error code (e.g. <c>NoSuchKey</c>, <c>SlowDown</c>).
/// Raised instead of the MinIO SDK's own exceptions for answers that carry an error document, because the SDK turns
/// codes it does not know into an <see cref="ArgumentNullException"/> when the server sends an empty message
/// (Ceph radosgw does).
/// </summary>
public sealed class S3ServiceException(HttpStatusCode statusCode, string? errorCode, string? serverMessage, string? requestId, string method, string resource)
    : IOException(Describe(statusCode, errorCode, serverMessage, requestId, method, resource))
{
    /// <summary>HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>S3 error code (<c>Code</c> element), when the answer had one.</summary>
    public string? ErrorCode { get; } = errorCode;

    /// <summary>The server's message (<c>Message</c> element); may be empty.</summary>
    public string? ServerMessage { get; } = serverMessage;

    /// <summary>The server's request id, for its logs.</summary>
    public string? RequestId { get; } = requestId;

    /// <summary>True for answers worth retrying: 5xx, 429 and the S3 throttling codes.</summary>
    public bool IsTransient => (int)StatusCode >= 500 || StatusCode == HttpStatusCode.TooManyRequests ||
                               ErrorCode is "SlowDown" or "RequestTimeout" or "InternalError" or "ServiceUnavailable" or "RequestTimeTooSkewed";

    /// <summary>True for "no such key / bucket" answers.</summary>
    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound || ErrorCode is "NoSuchKey" or "NoSuchBucket";

    private static string Describe(HttpStatusCode status, string? code, string? message, string? requestId, string method, string resource) =>
        $"S3 {method} {resource} failed: HTTP {(int)status} {status}" +
        (string.IsNullOrEmpty(code) ? "" : $", code {code}") +
        (string.IsNullOrEmpty(message) ? "" : $": {message}") +
        (string.IsNullOrEmpty(requestId) ? "" : $" (request id {requestId})");
}
