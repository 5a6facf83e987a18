using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Landmark.ServiceDefaults;
using Landmark.Testing;
using Microsoft.AspNetCore.Builder;

namespace Landmark.Security.Tests;

/// <summary>A service host with the shared defaults (Kestrel, gRPC, health) on a free loopback port, and gRPC clients
/// over real sockets with chosen TLS settings.</summary>
public sealed class TlsHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TlsHost(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TlsHost> StartAsync(params string[] settings)
    {
        var port = TestPaths.FreeTcpPort();
        var builder = WebApplication.CreateBuilder(
        [
            string.Create(CultureInfo.InvariantCulture, $"--{HostingOptions.SectionName}:GrpcPort={port}"),
            $"--{HostingOptions.SectionName}:HttpPort=0",
            $"--{HostingOptions.SectionName}:ListenOnAnyAddress=false",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ]);
        builder.AddServiceDefaults("tls-test");
        var app = builder.Build();
        app.MapDefaultEndpoints();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new TlsHost(app, port);
    }

    /// <summary>The TLS settings of a host serving <paramref name="server"/>.</summary>
    public static string[] TlsSettings(IssuedCertificate server, bool requireClientCertificate = false) =>
    [
        $"--{TlsOptions.SectionName}:CertificatePath={server.CertificatePath}",
        $"--{TlsOptions.SectionName}:KeyPath={server.KeyPath}",
        $"--{TlsOptions.SectionName}:CaPath={server.CaPath}",
        $"--{TlsOptions.SectionName}:RequireClientCertificate={requireClientCertificate}",
        $"--{TlsOptions.SectionName}:ReloadCheckSeconds=0",
    ];

    /// <summary>A health check over TLS that trusts <paramref name="authority"/> only, presents
    /// <paramref name="clientCertificate"/> if given, and reports the certificate the server presented.</summary>
    public async Task<(HealthCheckResponse Response, X509Certificate2 ServerCertificate)> CheckOverTlsAsync(
        X509Certificate2 authority, X509Certificate2? clientCertificate = null)
    {
        X509Certificate2? presented = null;
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            CustomTrustStore = { authority },
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            presented = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
            return errors == System.Net.Security.SslPolicyErrors.None;
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }
        using var channel = GrpcChannel.ForAddress(Address("https"), new GrpcChannelOptions { HttpHandler = handler });
        var response = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(20));
        return (response, presented!);
    }

    /// <summary>The status of a health check over cleartext HTTP/2 (h2c).</summary>
    public async Task<StatusCode> CheckInCleartextAsync()
    {
        using var channel = GrpcChannel.ForAddress(Address("http"));
        try
        {
            await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(20));
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    public string Address(string scheme) => string.Create(CultureInfo.InvariantCulture, $"{scheme}://127.0.0.1:{Port}");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
