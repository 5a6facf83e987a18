using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Testing;
using SkiaSharp;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>The embedded platform with TLS and mTLS on its gRPC port (certificates made in the test): a recognition runs
/// through the scorer's internal gRPC calls, which now go over TLS and present the platform's certificate.</summary>
public sealed class TlsPlatformTests
{
    [Fact]
    public async Task With_mtls_the_platform_recognizes_through_its_internal_calls_and_refuses_a_client_without_a_certificate()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-tls-platform");
        using var ca = new TestCertificateAuthority("Landmark platform CA");
        using var server = ca.Issue(Path.Combine(data.Path, "tls"), "landmark-platform");
        using var client = ca.Issue(Path.Combine(data.Path, "client"), "landmark-client");
        await using var platform = await EmbeddedPlatform.StartAsync(Path.Combine(data.Path, "data"),
            $"--Landmark:Tls:CertificatePath={server.CertificatePath}", $"--Landmark:Tls:KeyPath={server.KeyPath}",
            $"--Landmark:Tls:CaPath={server.CaPath}", "--Landmark:Tls:RequireClientCertificate=true");

        using var channel = Channel(platform.Port, ca.Certificate, client.Certificate);
        var ingest = new IngestService.IngestServiceClient(channel);
        var photo = ByteString.CopyFrom(TestImages.Jpeg(320, 240, SKColors.DarkOrange, 21));
        var stored = await ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "gate.jpg", Role = ImageRole.Landmark, LandmarkId = "gate" },
            Content = photo,
        });
        await Pipeline.WaitAsync(ingest, [stored.ImageId], TimeSpan.FromSeconds(90));
        var answer = await new RecognitionService.RecognitionServiceClient(channel).RecognizeAsync(new RecognizeRequest { Image = photo });
        Assert.Equal(stored.ImageId, answer.Neighbours[0].ImageId);

        using var anonymous = Channel(platform.Port, ca.Certificate, clientCertificate: null);
        var refused = await Assert.ThrowsAsync<RpcException>(() => new IngestService.IngestServiceClient(anonymous).GetStatsAsync(new GetStatsRequest()).ResponseAsync);
        Assert.True(refused.StatusCode is StatusCode.Unavailable or StatusCode.Internal, refused.ToString());
    }

    private static GrpcChannel Channel(int port, X509Certificate2 authority, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            CustomTrustStore = { authority },
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }
        return GrpcChannel.ForAddress(string.Create(CultureInfo.InvariantCulture, $"https://127.0.0.1:{port}"),
            new GrpcChannelOptions { HttpHandler = handler, MaxSendMessageSize = 64 << 20 });
    }
}
