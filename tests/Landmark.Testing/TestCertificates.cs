using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Landmark.Testing;

/// <summary>
/// Certificates made in the test (System.Security.Cryptography's CertificateRequest, ECDSA P-256): a CA, and
/// certificates it signs for <c>localhost</c> / <c>127.0.0.1</c> with the usages server auth and client auth, written as
/// PEM files laid out as a cert-manager Secret mounts them (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>).
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key;

    public TestCertificateAuthority(string name)
    {
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-60), DateTimeOffset.UtcNow.AddYears(1));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Writes the CA certificate (PEM) to <paramref name="path"/>.</summary>
    public string WriteCa(string path)
    {
        File.WriteAllText(path, Certificate.ExportCertificatePem());
        return path;
    }

    /// <summary>A certificate signed by this CA for localhost and 127.0.0.1 (or <paramref name="dnsName"/>), written
    /// as <c>tls.crt</c>, <c>tls.key</c> and <c>ca.crt</c> in <paramref name="directory"/>.</summary>
    public IssuedCertificate Issue(string directory, string subject, string dnsName = "localhost",
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server auth, client auth
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(Certificate, notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5),
            notAfter ?? DateTimeOffset.UtcNow.AddDays(30), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        var files = new IssuedCertificate(withKey, Path.Combine(directory, "tls.crt"), Path.Combine(directory, "tls.key"),
            Path.Combine(directory, "ca.crt"));
        File.WriteAllText(files.CertificatePath, withKey.ExportCertificatePem());
        File.WriteAllText(files.KeyPath, key.ExportPkcs8PrivateKeyPem());
        WriteCa(files.CaPath);
        return files;
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>An issued certificate (with its key) and the PEM files it was written to.</summary>
public sealed record IssuedCertificate(X509Certificate2 Certificate, string CertificatePath, string KeyPath, string CaPath) : IDisposable
{
    public void Dispose() => Certificate.Dispose();
}
