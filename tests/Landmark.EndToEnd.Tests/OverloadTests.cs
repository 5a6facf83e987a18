using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.EndToEnd.Tests;

/// <summary>Shedding load over real sockets: the key checked from the headers before a body is read, the public message
/// cap, the larger internal one.</summary>
public sealed class OverloadTests(AuthorizedPlatformFixture fixture, ITestOutputHelper output) : IClassFixture<AuthorizedPlatformFixture>
{
    private const int MiB = 1 << 20;
    private EmbeddedPlatform Platform => fixture.Platform;

    private static Metadata Key(string key) => new() { { "x-api-key", key } };

    [Fact]
    public async Task An_oversized_unary_call_without_a_key_is_refused_before_its_body_is_read()
    {
        // Warm: the time below is the refusal's, not the first call's start-up.
        await RawUnaryAsync(Platform.Port, "/landmark.v1.IngestService/UploadImage", new CountingGrpcContent(16), key: null);
        var body = new CountingGrpcContent(64 * MiB);
        var stopwatch = Stopwatch.StartNew();

        var status = await RawUnaryAsync(Platform.Port, "/landmark.v1.IngestService/UploadImage", body, key: null);

        stopwatch.Stop();
        Assert.Equal((int)StatusCode.Unauthenticated, status);
        await Task.Delay(500);
        output.WriteLine($"no key: {body.BytesSent:N0} of {64 * MiB:N0} bytes sent, answered in {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
        // HTTP/2 flow control lets the client send only what the server's window allows (Kestrel: 768 KiB per stream)
        // until the server reads; the server never read, so the client could not send more than a window.
        Assert.True(body.BytesSent < 2 * MiB, $"{body.BytesSent:N0} of {64 * MiB:N0} bytes were sent");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"answered in {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task An_oversized_message_with_a_key_is_refused_with_resource_exhausted_from_its_length_prefix()
    {
        var body = new CountingGrpcContent(32 * MiB);

        var status = await RawUnaryAsync(Platform.Port, "/landmark.v1.IngestService/UploadImage", body, AuthorizedPlatformFixture.IngestKey);

        Assert.Equal((int)StatusCode.ResourceExhausted, status);
        await Task.Delay(500);
        output.WriteLine($"with a key, over the cap: {body.BytesSent:N0} of {32 * MiB:N0} bytes sent");
        Assert.True(body.BytesSent < 2 * MiB, $"{body.BytesSent:N0} of {32 * MiB:N0} bytes were sent");
    }

    [Fact]
    public async Task The_public_cap_is_20_MiB_by_default_and_internal_services_accept_larger_messages()
    {
        var upload = new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "huge.jpg", Role = ImageRole.Landmark, LandmarkId = "huge" },
            Content = ByteString.CopyFrom(new byte[21 * MiB]),
        };
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Platform.Ingest.UploadImageAsync(upload, Key(AuthorizedPlatformFixture.IngestKey)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("maximum configured message size", error.Status.Detail, StringComparison.Ordinal);

        // Under the cap the same call reaches ingest, which judges the bytes (not an image).
        upload.Content = ByteString.CopyFrom(new byte[19 * MiB]);
        var judged = await Assert.ThrowsAsync<RpcException>(() =>
            Platform.Ingest.UploadImageAsync(upload, Key(AuthorizedPlatformFixture.IngestKey)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, judged.StatusCode);

        // The embedder (internal) takes 30 MiB in one message: its answer is about the content, not the size.
        var embed = new EmbedRequest { Images = { ByteString.CopyFrom(new byte[30 * MiB]) } };
        var embedError = await Assert.ThrowsAsync<RpcException>(() => new EmbedderService.EmbedderServiceClient(Platform.Channel)
            .EmbedAsync(embed, Key(AuthorizedPlatformFixture.InternalKey)).ResponseAsync);
        Assert.NotEqual(StatusCode.ResourceExhausted, embedError.StatusCode);
        Assert.NotEqual(StatusCode.Unauthenticated, embedError.StatusCode);
    }

    /// <summary>One unary gRPC call over HTTP/2 with prior knowledge whose body is <paramref name="content"/>; returns
    /// the grpc-status.</summary>
    internal static async Task<int> RawUnaryAsync(int port, string path, HttpContent content, string? key)
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post, string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}{path}"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        }
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (response.Headers.TryGetValues("grpc-status", out var header))
        {
            return int.Parse(header.Single(), CultureInfo.InvariantCulture);
        }
        await response.Content.CopyToAsync(Stream.Null);
        return int.Parse(response.TrailingHeaders.GetValues("grpc-status").Single(), CultureInfo.InvariantCulture);
    }

    /// <summary>A gRPC message of <c>length</c> zero bytes (its 5-byte prefix declares the whole length), written in
    /// 64 KiB pieces and counted as the connection takes them.</summary>
    private sealed class CountingGrpcContent : HttpContent
    {
        private readonly int _length;
        private long _sent;

        public CountingGrpcContent(int length)
        {
            _length = length;
            Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        }

        public long BytesSent => Interlocked.Read(ref _sent);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var prefix = new byte[5];
            BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)_length);
            await stream.WriteAsync(prefix);
            var piece = new byte[64 * 1024];
            for (var left = _length; left > 0; left -= piece.Length)
            {
                await stream.WriteAsync(piece.AsMemory(0, Math.Min(piece.Length, left)));
                Interlocked.Add(ref _sent, Math.Min(piece.Length, left));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length + 5L;
            return true;
        }
    }
}

/// <summary>The per-host concurrency limiter on a platform that runs one public call at a time.</summary>
public sealed class ConcurrencyLimitTests
{
    private const string InternalKey = "internal-key-for-limits-0123456789";

    [Fact]
    public async Task Calls_beyond_the_limit_are_refused_with_resource_exhausted_while_health_and_internal_calls_pass()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-limits");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path,
            "--Landmark:Concurrency:PermitLimit=1", "--Landmark:Concurrency:QueueLimit=0",
            $"--Landmark:Auth:InternalKeys:0={InternalKey}");
        Assert.NotNull(await platform.Ingest.GetStatsAsync(new GetStatsRequest()));

        // An upload stream left open holds the only public permit. The server releases the permit of the call before
        // only after its answer has left, so the holder itself can arrive too early and be refused: then it is opened again.
        AsyncClientStreamingCall<UploadImageChunk, UploadImageResponse>? holder = null;
        RpcException? refused = null;
        for (var attempt = 0; attempt < 5 && refused is null; attempt++)
        {
            holder?.Dispose();
            holder = platform.Ingest.UploadImageStream();
            try
            {
                await holder.RequestStream.WriteAsync(new UploadImageChunk
                {
                    Metadata = new ImageMetadata { FileName = "held.jpg", Role = ImageRole.Landmark, LandmarkId = "held" },
                    Data = ByteString.CopyFrom(TestImages.Jpeg(64, 48, SkiaSharp.SKColors.Navy, 3)),
                });
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                continue;
            }
            refused = await RefusedWithinAsync(() => platform.Ingest.GetStatsAsync(new GetStatsRequest()).ResponseAsync, holder.ResponseAsync,
                TimeSpan.FromSeconds(20));
        }
        Assert.NotNull(refused);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("concurrency limit", refused.Status.Detail, StringComparison.Ordinal);

        // Health answers (whatever the readiness of the model): it never waits for a permit.
        var health = await new Health.HealthClient(platform.Channel).CheckAsync(new HealthCheckRequest());
        Assert.NotEqual(HealthCheckResponse.Types.ServingStatus.Unknown, health.Status);
        var stats = await new RetrievalService.RetrievalServiceClient(platform.Channel)
            .GetIndexStatsAsync(new GetIndexStatsRequest(), new Metadata { { "x-api-key", InternalKey } });
        Assert.NotNull(stats);

        await holder!.RequestStream.CompleteAsync();
        Assert.False(string.IsNullOrEmpty((await holder.ResponseAsync).ImageId));
        holder.Dispose();
        Assert.NotNull(await platform.Ingest.GetStatsAsync(new GetStatsRequest()));
    }

    /// <summary>The first refusal of <paramref name="call"/>, tried every 50 ms; null when <paramref name="holder"/> ended
    /// first (it was refused itself and holds nothing).</summary>
    private static async Task<RpcException?> RefusedWithinAsync(Func<Task> call, Task holder, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (holder.IsCompleted)
            {
                return null;
            }
            try
            {
                await call();
            }
            catch (RpcException ex)
            {
                return ex;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"every call was admitted for {timeout}");
            }
            await Task.Delay(50);
        }
    }
}
