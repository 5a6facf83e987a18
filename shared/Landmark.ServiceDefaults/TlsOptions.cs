using System.ComponentModel.DataAnnotations;

namespace Landmark.ServiceDefaults;

/// <summary>
/// TLS of the gRPC port, bound from <c>Landmark:Tls</c>. Off while <see cref="CertificatePath"/> is empty. The files are
/// PEM, laid out as a cert-manager Secret mounts them (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>), and are read again
/// when their content changes (checked at most every <see cref="ReloadCheckSeconds"/>, on the next handshake), so a
/// rotated certificate is served without a restart. The HTTP port (probes, <c>/metrics</c>) stays cleartext.
/// </summary>
public sealed class TlsOptions
{
    public const string SectionName = "Landmark:Tls";

    /// <summary>The server's certificate (PEM; the leaf first, intermediates after it, as in cert-manager's
    /// <c>tls.crt</c>). Setting it turns TLS on.</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>The private key of <see cref="CertificatePath"/> (PEM, PKCS#8, PKCS#1 or SEC1: cert-manager's
    /// <c>tls.key</c>).</summary>
    public string KeyPath { get; set; } = "";

    /// <summary>The certificate authorities (PEM, one or more) that client certificates must chain to (mTLS) and that
    /// the platform's own gRPC clients trust for the other services' certificates (cert-manager's <c>ca.crt</c>).
    /// Empty: clients trust the system's roots.</summary>
    public string CaPath { get; set; } = "";

    /// <summary>mTLS: the gRPC port refuses connections without a client certificate that chains to
    /// <see cref="CaPath"/>. Every caller of that port (including public clients, or the ingress in front of them)
    /// then needs one.</summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>The certificate the platform's own gRPC clients present (mTLS). Empty: the server's
    /// <see cref="CertificatePath"/> (a cert-manager Certificate with the usages <c>server auth</c> and
    /// <c>client auth</c> serves as both).</summary>
    public string ClientCertificatePath { get; set; } = "";

    /// <summary>The private key of <see cref="ClientCertificatePath"/>.</summary>
    public string ClientKeyPath { get; set; } = "";

    /// <summary>How often (at most) the files are checked for new content; 0 checks on every handshake.</summary>
    [Range(0, 3600)]
    public int ReloadCheckSeconds { get; set; } = 10;

    /// <summary>Whether the gRPC port serves TLS.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <summary>The client certificate files in effect (the explicit ones, else the server's), or null without TLS.</summary>
    public (string Certificate, string Key)? ClientCertificateFiles() =>
        !string.IsNullOrWhiteSpace(ClientCertificatePath) ? (ClientCertificatePath, ClientKeyPath)
        : Enabled ? (CertificatePath, KeyPath)
        : null;
}
