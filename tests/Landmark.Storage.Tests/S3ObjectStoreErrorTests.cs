using System.Net;
using Landmark.Testing;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary>How <see cref="S3ObjectStore"/> classifies and retries server failures, against a scripted fake server
/// (the happy paths run against a real S3 server in the integration tests).</summary>
public sealed class S3ObjectStoreErrorTests
{
    private static S3ObjectStore Store(string endpoint, int maxAttempts = 3) => new(new S3StorageOptions
    {
        Endpoint = endpoint,
        AccessKey = "key",
        SecretKey = "secret",
        BucketPrefix = "x-",
        MaxAttempts = maxAttempts,
        RetryDelayMs = 1,
        TimeoutSeconds = 10,
    });

    [Fact]
    public async Task Server_errors_with_empty_messages_are_retried_then_reported_as_unavailable_with_status_and_code()
    {
        await using var server = await FakeS3Server.StartAsync((c, _) => FakeS3Server.Error(c, 503, "SlowDown"));
        using var store = Store(server.Endpoint, maxAttempts: 3);
        var error = await Assert.ThrowsAsync<ObjectStoreUnavailableException>(() => store.PutBytesAsync("raw", "k", new byte[] { 1 }));
        Assert.Equal(3, error.Attempts);
        var cause = Assert.IsType<S3ServiceException>(error.InnerException);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, cause.StatusCode);
        Assert.Equal("SlowDown", cause.ErrorCode);
        Assert.Equal("req-1", cause.RequestId);
        Assert.Contains("SlowDown", error.Message, StringComparison.Ordinal);
        Assert.Contains("raw/k", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task A_transient_failure_followed_by_success_is_invisible_to_the_caller()
    {
        await using var server = await FakeS3Server.StartAsync((c, n) => n == 1 ? FakeS3Server.Error(c, 500, "InternalError") : FakeS3Server.Ok(c));
        using var store = Store(server.Endpoint);
        await store.PutBytesAsync("raw", "k", new byte[] { 1 });
        Assert.Equal(["PUT /x-raw/k", "PUT /x-raw/k"], server.Requests);
    }

    [Fact]
    public async Task Client_errors_with_empty_messages_surface_as_s3_errors_and_are_not_retried()
    {
        await using var server = await FakeS3Server.StartAsync((c, _) => FakeS3Server.Error(c, 403, "AccessDenied"));
        using var store = Store(server.Endpoint, maxAttempts: 5);
        var error = await Assert.ThrowsAsync<S3ServiceException>(() => store.PutBytesAsync("raw", "k", new byte[] { 1 }));
        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Equal("AccessDenied", error.ErrorCode);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Missing_objects_are_answered_without_retries()
    {
        await using var server = await FakeS3Server.StartAsync((c, _) =>
        {
            if (FakeS3Server.IsBucketRequest(c))
            {
                return FakeS3Server.Ok(c);
            }
            c.Response.StatusCode = 404; // HEAD: no body
            return Task.CompletedTask;
        });
        using var store = Store(server.Endpoint, maxAttempts: 5);
        Assert.Null(await store.StatAsync("raw", "missing"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("raw", "missing"));
        Assert.Equal(["HEAD /x-raw/", "HEAD /x-raw/missing", "HEAD /x-raw/", "HEAD /x-raw/missing"], server.Requests);
    }

    [Fact]
    public async Task An_object_deleted_between_stat_and_download_is_reported_as_not_found()
    {
        // The SDK stats before it downloads; radosgw's NoSuchKey document has an empty message.
        await using var server = await FakeS3Server.StartAsync((c, _) =>
            HttpMethods.IsGet(c.Request.Method) ? FakeS3Server.Error(c, 404, "NoSuchKey") : FakeS3Server.Ok(c));
        using var store = Store(server.Endpoint, maxAttempts: 5);
        var error = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("raw", "racy"));
        Assert.Equal("racy", error.Key);
        Assert.Single(server.Requests, r => r.StartsWith("GET", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_bucket_lists_nothing_and_deleting_from_it_is_not_an_error()
    {
        await using var server = await FakeS3Server.StartAsync((c, _) => FakeS3Server.Error(c, 404, "NoSuchBucket"));
        using var store = Store(server.Endpoint, maxAttempts: 5);
        await foreach (var _ in store.ListAsync("raw"))
        {
            Assert.Fail("nothing to list");
        }
        await store.DeleteAsync("raw", "k");
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task Listing_failures_are_retried_then_reported_as_unavailable()
    {
        await using var server = await FakeS3Server.StartAsync((c, _) => FakeS3Server.Error(c, 502, "BadGateway"));
        using var store = Store(server.Endpoint, maxAttempts: 2);
        var error = await Assert.ThrowsAsync<ObjectStoreUnavailableException>(async () =>
        {
            await foreach (var _ in store.ListAsync("raw", "p/"))
            {
            }
        });
        Assert.Equal(2, error.Attempts);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task A_closed_port_fails_after_the_configured_attempts_with_the_connection_error()
    {
        using var store = Store($"127.0.0.1:{TestPaths.FreeTcpPort()}", maxAttempts: 2);
        var error = await Assert.ThrowsAsync<ObjectStoreUnavailableException>(() => store.StatAsync("raw", "k"));
        Assert.Equal(2, error.Attempts);
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.Contains("127.0.0.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Caller_cancellation_is_not_retried_nor_wrapped()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await FakeS3Server.StartAsync(async (c, _) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(5), c.RequestAborted);
            await FakeS3Server.Ok(c);
        });
        using var store = Store(server.Endpoint, maxAttempts: 5);
        using var cancel = new CancellationTokenSource();
        var put = store.PutBytesAsync("raw", "k", new byte[] { 1 }, cancellationToken: cancel.Token);
        // Cancel once the request is at the server (a fixed delay could fire before it got there on a busy machine).
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => put);
        Assert.Single(server.Requests);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8 * 24 * 3600)]
    public async Task Presigned_urls_live_one_second_to_seven_days(int seconds)
    {
        using var store = Store("127.0.0.1:9");
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.PresignGetAsync("raw", "k", TimeSpan.FromSeconds(seconds)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.PresignPutAsync("raw", "k", TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public async Task Presigned_urls_point_at_the_physical_bucket_and_key_with_a_signature()
    {
        using var store = Store("http://127.0.0.1:9000/");
        var url = new Uri(await store.PresignGetAsync("raw", "a/b.jpg", TimeSpan.FromMinutes(5)));
        Assert.Equal("http://127.0.0.1:9000/x-raw/a/b.jpg", url.GetLeftPart(UriPartial.Path));
        Assert.Contains("X-Amz-Signature=", url.Query, StringComparison.Ordinal);
        Assert.Contains("X-Amz-Expires=300", url.Query, StringComparison.Ordinal);
    }
}
