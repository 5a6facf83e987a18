using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Landmark.Storage.Tests;
using Landmark.Testing;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Landmark.Storage.IntegrationTests;

/// <summary>The object-store contract on <see cref="S3ObjectStore"/> against a real S3 server (Ceph radosgw), plus
/// presigned URLs and retries.</summary>
[Collection(S3Collection.Name)]
public sealed class S3ObjectStoreTests(S3Server server) : ObjectStoreContract, IDisposable
{
    private readonly RecordingLogger _log = new();
    private S3ObjectStore? _store;

    private S3ObjectStore S3 => _store ??= server.CreateStore(logger: _log);

    protected override IObjectStore Store => S3;

    protected override IObjectStore OtherReplica => _other ??= server.CreateStore();

    private S3ObjectStore? _other;

    [Fact]
    public async Task Physical_buckets_carry_the_configured_prefix()
    {
        await S3.EnsureBucketAsync(Bucket);
        Assert.Equal(server.Prefix + Bucket, S3.PhysicalBucket(Bucket));
        Assert.True(await S3.BucketExistsAsync(Bucket));
        // Another prefix is another set of buckets.
        var otherOptions = server.Options();
        otherOptions.BucketPrefix = "other" + server.Prefix;
        using var other = new S3ObjectStore(otherOptions);
        Assert.False(await other.BucketExistsAsync(Bucket));
    }

    [Fact]
    public async Task Presigned_get_url_downloads_the_object_without_credentials()
    {
        await S3.EnsureBucketAsync(Bucket);
        var bytes = RandomNumberGenerator.GetBytes(70_000);
        await S3.PutBytesAsync(Bucket, "shared/photo 1.jpg", bytes, "image/jpeg");
        var url = await S3.PresignGetAsync(Bucket, "shared/photo 1.jpg", TimeSpan.FromMinutes(5));
        using var http = new HttpClient();
        using var response = await http.GetAsync(url);
        response.EnsureSuccessStatusCode();
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(bytes, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Presigned_get_url_serves_byte_ranges()
    {
        // The SDK's own ranged GetObject throws PartialContentException; a presigned URL plus Range works.
        await S3.EnsureBucketAsync(Bucket);
        await S3.PutBytesAsync(Bucket, "ranged", "0123456789"u8.ToArray());
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, await S3.PresignGetAsync(Bucket, "ranged", TimeSpan.FromMinutes(1)));
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(2, 5);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("2345"u8.ToArray(), await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Presigned_put_url_uploads_an_object()
    {
        await S3.EnsureBucketAsync(Bucket);
        var url = await S3.PresignPutAsync(Bucket, "incoming/upload.bin", TimeSpan.FromMinutes(5));
        using var http = new HttpClient();
        using var response = await http.PutAsync(url, new ByteArrayContent("uploaded"u8.ToArray()));
        response.EnsureSuccessStatusCode();
        Assert.Equal("uploaded"u8.ToArray(), await S3.GetBytesAsync(Bucket, "incoming/upload.bin"));
    }

    [Fact]
    public async Task Presigned_get_url_of_another_key_is_refused_by_the_server()
    {
        await S3.EnsureBucketAsync(Bucket);
        await S3.PutBytesAsync(Bucket, "secret", new byte[] { 1 });
        var url = (await S3.PresignGetAsync(Bucket, "public", TimeSpan.FromMinutes(5))).Replace("/public?", "/secret?", StringComparison.Ordinal);
        using var http = new HttpClient();
        using var response = await http.GetAsync(url);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Unreachable_server_is_retried_then_fails_with_a_clear_exception()
    {
        var log = new RecordingLogger();
        using var store = server.CreateStore($"127.0.0.1:{TestPaths.FreeTcpPort()}", maxAttempts: 2, logger: log);
        var error = await Assert.ThrowsAsync<ObjectStoreUnavailableException>(() => store.PutBytesAsync(Bucket, "k", new byte[] { 1 }));
        Assert.Equal(2, error.Attempts);
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.Contains("failed after 2 attempt(s)", error.Message, StringComparison.Ordinal);
        Assert.Single(log.Warnings, w => w.Contains("retrying", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Not_found_is_answered_at_once_without_retries()
    {
        await S3.EnsureBucketAsync(Bucket);
        Assert.Null(await S3.StatAsync(Bucket, "missing"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => S3.OpenReadAsync(Bucket, "missing"));
        await S3.DeleteAsync(Bucket, "missing");
        Assert.Empty(_log.Warnings);
    }

    [Fact]
    public async Task Large_downloads_are_spooled_and_read_back_whole()
    {
        var options = server.Options();
        options.MemoryBufferBytes = 64 * 1024;
        using var store = new S3ObjectStore(options);
        await store.EnsureBucketAsync(Bucket);
        var bytes = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await store.PutBytesAsync(Bucket, "spooled", bytes);
        await using var stream = await store.OpenReadAsync(Bucket, "spooled");
        Assert.IsType<FileStream>(stream);
        Assert.Equal(SHA256.HashData(bytes), await SHA256.HashDataAsync(stream));
    }

    [Fact]
    public async Task Listing_reports_sizes_and_unquoted_etags_matching_stat()
    {
        await S3.EnsureBucketAsync(Bucket);
        await S3.PutBytesAsync(Bucket, "l/a", new byte[10]);
        var listed = Assert.Single(await ListAll("l/"));
        var stat = await S3.StatAsync(Bucket, "l/a");
        Assert.Equal(10, listed.Size);
        Assert.Equal(stat!.ETag, listed.ETag);
        Assert.DoesNotContain('"', listed.ETag!);
    }

    public void Dispose()
    {
        _store?.Dispose();
        _other?.Dispose();
    }

    /// <summary>Keeps the warnings a store logs (its retries).</summary>
    private sealed class RecordingLogger : ILogger<S3ObjectStore>
    {
        public ConcurrentQueue<string> Warnings { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                Warnings.Enqueue(formatter(state, exception));
            }
        }
    }
}
