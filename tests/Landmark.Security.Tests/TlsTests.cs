using Grpc.Core;
using Grpc.Health.V1;
using Landmark.ServiceDefaults;
using Landmark.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>TLS of the gRPC port over real sockets, with certificates made in the test: TLS calls, refused cleartext,
/// mTLS refusals, the platform's own clients under mTLS, and certificates replaced on disk without a restart.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TempDirectory _files = TestPaths.CreateTempDirectory("landmark-tls");
    private readonly TestCertificateAuthority _ca = new("Landmark test CA");
    private readonly TestCertificateAuthority _otherCa = new("Some other CA");

    private string Dir(string name) => Path.Combine(_files.Path, name);

    [Fact]
    public async Task A_grpc_call_over_tls_succeeds_and_a_cleartext_client_is_refused()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");
        await using var host = await TlsHost.StartAsync(TlsHost.TlsSettings(server));

        var (response, presented) = await host.CheckOverTlsAsync(_ca.Certificate);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
        Assert.Equal(server.Certificate.Thumbprint, presented.Thumbprint);
        Assert.NotEqual(StatusCode.OK, await host.CheckInCleartextAsync());
    }

    [Fact]
    public async Task With_mtls_a_client_certificate_of_the_ca_is_admitted_and_none_or_another_cas_is_refused()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");
        using var client = _ca.Issue(Dir("client"), "landmark-client");
        using var stranger = _otherCa.Issue(Dir("stranger"), "landmark-client");
        await using var host = await TlsHost.StartAsync(TlsHost.TlsSettings(server, requireClientCertificate: true));

        var (admitted, _) = await host.CheckOverTlsAsync(_ca.Certificate, client.Certificate);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, admitted.Status);

        AssertConnectionRefused(await Assert.ThrowsAsync<RpcException>(() => host.CheckOverTlsAsync(_ca.Certificate)));
        AssertConnectionRefused(await Assert.ThrowsAsync<RpcException>(() => host.CheckOverTlsAsync(_ca.Certificate, stranger.Certificate)));
    }

    [Fact]
    public async Task The_platforms_internal_client_presents_its_certificate_and_trusts_the_configured_ca_under_mtls()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");
        using var client = _ca.Issue(Dir("client"), "landmark-internal-client");
        await using var host = await TlsHost.StartAsync(TlsHost.TlsSettings(server, requireClientCertificate: true));

        using var trusted = InternalClient(host, client.CertificatePath, client.KeyPath, _ca.WriteCa(Dir("ca.crt")));
        var response = await trusted.GetRequiredService<Health.HealthClient>().CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);

        // The same client trusting another CA refuses the server's certificate.
        using var distrustful = InternalClient(host, client.CertificatePath, client.KeyPath, _otherCa.WriteCa(Dir("other-ca.crt")));
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            distrustful.GetRequiredService<Health.HealthClient>().CheckAsync(new HealthCheckRequest()).ResponseAsync);
        AssertConnectionRefused(error);
        Assert.Contains("SSL connection could not be established", error.Status.DebugException?.ToString() ?? error.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>A call that failed in TLS, not in the service: the handshake was refused (UNAVAILABLE) or the
    /// connection was closed once TLS 1.3 had let the client send (INTERNAL), never an answer.</summary>
    private static void AssertConnectionRefused(RpcException error) =>
        Assert.True(error.StatusCode is StatusCode.Unavailable or StatusCode.Internal, error.ToString());

    /// <summary>The service collection of a service that calls <paramref name="host"/> with AddInternalGrpcClient.</summary>
    private static ServiceProvider InternalClient(TlsHost host, string certificate, string key, string ca)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{ServiceEndpointsOptions.SectionName}:Ingest"] = host.Address("https"),
            [$"{TlsOptions.SectionName}:ClientCertificatePath"] = certificate,
            [$"{TlsOptions.SectionName}:ClientKeyPath"] = key,
            [$"{TlsOptions.SectionName}:CaPath"] = ca,
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddOptions<ServiceEndpointsOptions>().Bind(configuration.GetSection(ServiceEndpointsOptions.SectionName));
        services.AddOptions<TlsOptions>().Bind(configuration.GetSection(TlsOptions.SectionName));
        services.AddInternalGrpcClient<Health.HealthClient>(e => e.Ingest);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task Certificate_files_replaced_on_disk_are_served_on_the_next_connection_without_a_restart()
    {
        using var first = _ca.Issue(Dir("server"), "landmark-server-first");
        await using var host = await TlsHost.StartAsync(TlsHost.TlsSettings(first));
        Assert.Equal(first.Certificate.Thumbprint, (await host.CheckOverTlsAsync(_ca.Certificate)).ServerCertificate.Thumbprint);

        // cert-manager renews: new key and certificate in the same files.
        using var renewed = _ca.Issue(Dir("server"), "landmark-server-renewed");

        var (response, presented) = await host.CheckOverTlsAsync(_ca.Certificate);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
        Assert.Equal(renewed.Certificate.Thumbprint, presented.Thumbprint);
        Assert.NotEqual(first.Certificate.Thumbprint, presented.Thumbprint);
    }

    [Fact]
    public async Task A_half_written_rotation_keeps_the_previous_certificate_until_the_key_matches()
    {
        using var first = _ca.Issue(Dir("server"), "landmark-server-first");
        await using var host = await TlsHost.StartAsync(TlsHost.TlsSettings(first));
        using var next = _ca.Issue(Dir("next"), "landmark-server-next");

        File.Copy(next.CertificatePath, first.CertificatePath, overwrite: true); // the key has not arrived yet
        Assert.Equal(first.Certificate.Thumbprint, (await host.CheckOverTlsAsync(_ca.Certificate)).ServerCertificate.Thumbprint);

        File.Copy(next.KeyPath, first.KeyPath, overwrite: true);
        Assert.Equal(next.Certificate.Thumbprint, (await host.CheckOverTlsAsync(_ca.Certificate)).ServerCertificate.Thumbprint);
    }

    [Fact]
    public async Task Start_up_stops_with_the_setting_and_file_named_when_a_file_is_missing()
    {
        var missing = Dir("nowhere/tls.crt");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TlsHost.StartAsync(
            $"--{TlsOptions.SectionName}:CertificatePath={missing}", $"--{TlsOptions.SectionName}:KeyPath={Dir("nowhere/tls.key")}"));
        Assert.Contains($"Landmark:Tls:CertificatePath: the file '{missing}' does not exist.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_that_is_not_the_certificates_is_refused_at_start_up()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");
        using var other = _ca.Issue(Dir("other"), "landmark-other");

        var result = Validate(new TlsOptions { CertificatePath = server.CertificatePath, KeyPath = other.KeyPath });

        Assert.Contains(result.Failures!, f => f.StartsWith("Landmark:Tls:CertificatePath/Landmark:Tls:KeyPath: the key in", StringComparison.Ordinal)
            && f.Contains("does not belong to the certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void An_expired_certificate_is_refused_at_start_up_with_its_validity()
    {
        using var expired = _ca.Issue(Dir("expired"), "landmark-expired", notBefore: DateTimeOffset.UtcNow.AddDays(-10),
            notAfter: DateTimeOffset.UtcNow.AddDays(-1));

        var result = Validate(new TlsOptions { CertificatePath = expired.CertificatePath, KeyPath = expired.KeyPath });

        Assert.Contains(result.Failures!, f => f.Contains("is valid only from", StringComparison.Ordinal));
    }

    [Fact]
    public void Mtls_without_a_ca_and_a_key_without_a_certificate_are_refused()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");

        var mtls = Validate(new TlsOptions { CertificatePath = server.CertificatePath, KeyPath = server.KeyPath, RequireClientCertificate = true });
        var keyOnly = Validate(new TlsOptions { ClientKeyPath = server.KeyPath });
        var notPem = Validate(new TlsOptions { CaPath = server.KeyPath });

        Assert.Contains(mtls.Failures!, f => f.StartsWith("Landmark:Tls:RequireClientCertificate needs Landmark:Tls:CaPath", StringComparison.Ordinal));
        Assert.Contains(keyOnly.Failures!, f => f.StartsWith("Landmark:Tls:ClientKeyPath is set without", StringComparison.Ordinal));
        Assert.Contains(notPem.Failures!, f => f.StartsWith("Landmark:Tls:CaPath:", StringComparison.Ordinal) && f.Contains("no PEM certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void Valid_tls_settings_and_no_tls_at_all_pass()
    {
        using var server = _ca.Issue(Dir("server"), "landmark-server");

        var mtls = Validate(new TlsOptions
        {
            CertificatePath = server.CertificatePath, KeyPath = server.KeyPath, CaPath = server.CaPath, RequireClientCertificate = true,
        });

        Assert.True(Validate(new TlsOptions()).Succeeded);
        Assert.True(mtls.Succeeded, string.Join("; ", mtls.Failures ?? []));
    }

    private static ValidateOptionsResult Validate(TlsOptions options) =>
        new TlsOptionsValidator(TimeProvider.System).Validate(null, options);

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
        _files.Dispose();
    }
}
