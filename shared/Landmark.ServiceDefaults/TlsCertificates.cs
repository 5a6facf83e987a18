using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// The TLS material of <see cref="TlsOptions"/>, read from its PEM files and read again when their content changes
/// (cert-manager rewrites the Secret's files before a certificate expires): checked at most every
/// <see cref="TlsOptions.ReloadCheckSeconds"/>, on the next TLS handshake. Content, not timestamps, decides (a
/// Kubernetes Secret volume swaps a symlink). A half-written rotation (a certificate whose key has not arrived yet) is
/// logged and skipped: the previous material stays in use until the files agree again.
/// </summary>
public sealed class TlsCertificates : IDisposable
{
    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private Material _material;
    private long _lastCheck;

    public TlsCertificates(IOptions<TlsOptions> options, TimeProvider time, ILogger<TlsCertificates> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _lastCheck = time.GetTimestamp();
        _material = Read(Fingerprint());
    }

    /// <summary>The server's certificate and intermediates, as a context for <see cref="SslStream"/>; null without TLS.</summary>
    public SslStreamCertificateContext? Server => Current().Server;

    /// <summary>The certificate the platform's gRPC clients present; null without one.</summary>
    public X509Certificate2? Client => Current().Client?.Certificate;

    /// <summary>The configured authorities (<see cref="TlsOptions.CaPath"/>); null when the system's roots apply.</summary>
    public X509Certificate2Collection? Authorities => Current().Authorities;

    /// <summary>The server-side options of one TLS handshake on the gRPC port: the current certificate, HTTP/2, and
    /// with <see cref="TlsOptions.RequireClientCertificate"/> a client certificate that chains to the authorities.</summary>
    public SslServerAuthenticationOptions ServerOptions()
    {
        var material = Current();
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = material.Server,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        };
        if (_options.RequireClientCertificate)
        {
            options.ClientCertificateRequired = true;
            options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                PemCertificates.IsTrusted(certificate, chain, errors, material.Authorities);
        }
        return options;
    }

    /// <summary>Client-side TLS for the platform's own gRPC clients: present <see cref="Client"/> (read at each
    /// handshake, so rotations apply to new connections) and trust <see cref="Authorities"/> when configured.</summary>
    public void ConfigureClient(SslClientAuthenticationOptions ssl)
    {
        ssl.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        if (_options.ClientCertificateFiles() is not null)
        {
            ssl.LocalCertificateSelectionCallback = (_, _, _, _, _) => Client!;
        }
        ssl.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            PemCertificates.IsTrusted(certificate, chain, errors, Authorities);
    }

    private Material Current()
    {
        var interval = TimeSpan.FromSeconds(_options.ReloadCheckSeconds);
        if (_time.GetElapsedTime(Interlocked.Read(ref _lastCheck)) < interval)
        {
            return _material;
        }
        lock (_gate)
        {
            if (_time.GetElapsedTime(_lastCheck) < interval)
            {
                return _material;
            }
            Interlocked.Exchange(ref _lastCheck, _time.GetTimestamp());
            try
            {
                var fingerprint = Fingerprint();
                if (!fingerprint.AsSpan().SequenceEqual(_material.Fingerprint))
                {
                    _material = Read(fingerprint);
                    _logger.LogInformation("TLS certificates reloaded: server {Subject} valid until {NotAfter:u}",
                        _material.Server?.TargetCertificate.Subject, _material.Server?.TargetCertificate.NotAfter.ToUniversalTime());
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                _logger.LogWarning("TLS certificate files changed but cannot be loaded yet ({Reason}); the previous certificates stay in use", ex.Message);
            }
            return _material;
        }
    }

    /// <summary>A digest of the content of every configured file.</summary>
    private byte[] Fingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var client = _options.ClientCertificateFiles();
        foreach (var path in new[] { _options.CertificatePath, _options.KeyPath, _options.CaPath, client?.Certificate, client?.Key })
        {
            if (!string.IsNullOrWhiteSpace(path))
            {
                hash.AppendData(File.ReadAllBytes(path));
            }
            hash.AppendData([0]);
        }
        return hash.GetHashAndReset();
    }

    private Material Read(byte[] fingerprint)
    {
        SslStreamCertificateContext? server = null;
        if (_options.Enabled)
        {
            var loaded = PemCertificates.Load(_options.CertificatePath, _options.KeyPath);
            server = SslStreamCertificateContext.Create(loaded.Certificate, loaded.Intermediates, offline: true);
        }
        var client = _options.ClientCertificateFiles() is { } files ? PemCertificates.Load(files.Certificate, files.Key) : null;
        var authorities = string.IsNullOrWhiteSpace(_options.CaPath) ? null : PemCertificates.LoadAuthorities(_options.CaPath);
        return new Material(fingerprint, server, client, authorities);
    }

    public void Dispose()
    {
        // Certificates of earlier material may still be in use by open connections: only the current ones are released.
        _material.Client?.Certificate.Dispose();
    }

    private sealed record Material(byte[] Fingerprint, SslStreamCertificateContext? Server, CertificateWithChain? Client,
        X509Certificate2Collection? Authorities);
}
