using System.Diagnostics;
using Landmark.Storage;
using Landmark.Storage.Tests;
using Landmark.Testing;
using Xunit;

namespace Landmark.Storage.IntegrationTests;

[Collection(S3Collection.Name)]
public sealed class S3ObjectStoreTests(S3Server server) : ObjectStoreContract
{
    private readonly S3ObjectStore _store = server.CreateStore();

    protected override IObjectStore Store => _store;

    [Fact]
    public async Task Presigned_get_url_downloads_the_object_without_credentials()
    {
        await _store.EnsureBucketAsync(Bucket);
        await _store.PutBytesAsync(Bucket, "shared/photo.bin", "presigned"u8.ToArray());
        var url = await _store.PresignGetAsync(Bucket, "shared/photo.bin", TimeSpan.FromMinutes(5));
        using var http = new HttpClient();
        Assert.Equal("presigned"u8.ToArray(), await http.GetByteArrayAsync(url));
    }

    [Fact]
    public async Task Presigned_put_url_uploads_an_object()
    {
        await _store.EnsureBucketAsync(Bucket);
        var url = await _store.PresignPutAsync(Bucket, "incoming.bin", TimeSpan.FromMinutes(5));
        using var http = new HttpClient();
        using var response = await http.PutAsync(url, new ByteArrayContent("uploaded"u8.ToArray()));
        response.EnsureSuccessStatusCode();
        Assert.Equal("uploaded"u8.ToArray(), await _store.GetBytesAsync(Bucket, "incoming.bin"));
    }

    [Fact]
    public async Task Unreachable_server_is_retried_then_fails_clearly()
    {
        var closedPort = TestPaths.FreeTcpPort();
        var store = server.CreateStore($"127.0.0.1:{closedPort}", maxAttempts: 3);
        var error = await Record.ExceptionAsync(() => store.PutBytesAsync(Bucket, "k", new byte[] { 1 }));
        Assert.NotNull(error);
        Assert.IsNotType<ObjectNotFoundException>(error);
    }

    [Fact]
    public async Task Not_found_is_answered_at_once_without_retries()
    {
        await _store.EnsureBucketAsync(Bucket);
        var stopwatch = Stopwatch.StartNew();
        Assert.Null(await _store.StatAsync(Bucket, "missing"));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => _store.OpenReadAsync(Bucket, "missing"));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5));
    }
}
