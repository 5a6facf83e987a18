using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Landmark.ServiceDefaults;
using Landmark.Testing;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>
/// The bus's TLS to RabbitMQ (<c>Landmark:Messaging:RabbitMq:Tls</c>, MassTransit's UseSsl), against a TLS listener
/// that stands in for the broker's AMQPS port and records the handshake: the server name asked for, the client
/// certificate presented, and the AMQP protocol header that follows a handshake the client accepted.
/// </summary>
public sealed class RabbitMqTlsTests : IDisposable
{
    private readonly TempDirectory _files = TestPaths.CreateTempDirectory("landmark-amqps");
    private readonly TestCertificateAuthority _ca = new("Landmark broker CA");
    private readonly TestCertificateAuthority _otherCa = new("Some other CA");

    private sealed record Handshake(string ServerName, string? ClientThumbprint, string ProtocolHeader);

    [Fact]
    public async Task The_bus_verifies_the_broker_against_the_ca_by_name_and_presents_its_client_certificate()
    {
        var (client, handshake, app) = await ConnectAsync(brokerCa: _ca);
        await using (app)
        {
            var seen = await handshake.WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(BrokerName, seen.ServerName);
            Assert.Equal(client.Thumbprint, seen.ClientThumbprint);
            Assert.StartsWith("AMQP", seen.ProtocolHeader, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_broker_certificate_from_another_ca_ends_the_handshake_before_any_amqp()
    {
        var (_, handshake, app) = await ConnectAsync(brokerCa: _otherCa);
        await using (app)
        {
            // The client connected and then aborted the handshake (not a timeout: it did try).
            var error = await Record.ExceptionAsync(() => handshake.WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.True(error is System.Security.Authentication.AuthenticationException or IOException, error?.ToString() ?? "the handshake succeeded");
        }
    }

    private const string BrokerName = "rabbitmq.landmark.svc";

    /// <summary>A broker stand-in whose certificate <paramref name="brokerCa"/> signed, and a bus that trusts this test's
    /// CA and presents a client certificate of it: the client certificate, the broker's view of the handshake, the bus.</summary>
    private async Task<(X509Certificate2 Client, Task<Handshake> Handshake, WebApplication Bus)> ConnectAsync(TestCertificateAuthority brokerCa)
    {
        var broker = brokerCa.Issue(Path.Combine(_files.Path, "broker"), "rabbitmq", dnsName: BrokerName);
        var client = _ca.Issue(Path.Combine(_files.Path, "client"), "landmark-ingest");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var handshake = AcceptAsync(listener, broker.Certificate).ContinueWith(t =>
        {
            listener.Stop();
            return t;
        }, TaskScheduler.Default).Unwrap();
        var bus = await StartBusAsync(listener, BrokerName, _ca.WriteCa(Path.Combine(_files.Path, "ca.crt")), client);
        return (client.Certificate, handshake, bus);
    }

    [Fact]
    public void Tls_files_are_checked_at_start_up_and_ignored_without_the_rabbitmq_transport()
    {
        using var client = _ca.Issue(Path.Combine(_files.Path, "client"), "landmark-ingest");
        using var other = _ca.Issue(Path.Combine(_files.Path, "other"), "landmark-other");
        var validator = new RabbitMqTlsValidator(TimeProvider.System);
        MessagingOptions Options(MessagingTransport transport, bool enabled) => new()
        {
            Transport = transport,
            RabbitMq = new RabbitMqOptions
            {
                Tls = new RabbitMqTlsOptions
                {
                    Enabled = enabled, CaPath = client.CaPath + ".missing", ClientCertificatePath = client.CertificatePath, ClientKeyPath = other.KeyPath,
                },
            },
        };

        var failures = validator.Validate(null, Options(MessagingTransport.RabbitMq, enabled: true)).Failures!;
        var notEnabled = validator.Validate(null, Options(MessagingTransport.RabbitMq, enabled: false)).Failures!;

        Assert.Contains(failures, f => f.StartsWith("Landmark:Messaging:RabbitMq:Tls:CaPath: the file", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("does not belong to the certificate", StringComparison.Ordinal));
        Assert.Contains(notEnabled, f => f.Contains("Enabled is not", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, Options(MessagingTransport.InMemory, enabled: true)).Succeeded);
    }

    /// <summary>One TLS handshake as the broker, then the client's first 8 bytes (AMQP's protocol header).</summary>
    private static async Task<Handshake> AcceptAsync(TcpListener listener, X509Certificate2 certificate)
    {
        using var tcp = await listener.AcceptTcpClientAsync();
        string? clientThumbprint = null;
        await using var ssl = new SslStream(tcp.GetStream(), false);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = (_, presented, _, _) =>
            {
                clientThumbprint = presented is null ? null : X509CertificateLoader.LoadCertificate(presented.GetRawCertData()).Thumbprint;
                return true;
            },
        });
        var header = new byte[8];
        await ssl.ReadExactlyAsync(header);
        return new Handshake(ssl.TargetHostName, clientThumbprint, Encoding.ASCII.GetString(header, 0, 4));
    }

    private static async Task<WebApplication> StartBusAsync(TcpListener listener, string serverName, string caPath, IssuedCertificate client)
    {
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        const string rabbit = MessagingOptions.SectionName + ":RabbitMq";
        var builder = WebApplication.CreateBuilder(
        [
            $"--{MessagingOptions.SectionName}:Transport=RabbitMq",
            $"--{MessagingOptions.SectionName}:WaitUntilStarted=false",
            $"--{rabbit}:Host=127.0.0.1",
            string.Create(CultureInfo.InvariantCulture, $"--{rabbit}:Port={port}"),
            $"--{rabbit}:Tls:Enabled=true",
            $"--{rabbit}:Tls:ServerName={serverName}",
            $"--{rabbit}:Tls:CaPath={caPath}",
            $"--{rabbit}:Tls:ClientCertificatePath={client.CertificatePath}",
            $"--{rabbit}:Tls:ClientKeyPath={client.KeyPath}",
            "--Logging:LogLevel:Default=None",
        ]);
        builder.AddLandmarkMessaging(_ => { });
        var app = builder.Build();
        await app.StartAsync();
        return app;
    }

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
        _files.Dispose();
    }
}
