using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Landmark.ServiceDefaults;

/// <summary>A certificate with its private key and the intermediates that followed it in its PEM file.</summary>
public sealed record CertificateWithChain(X509Certificate2 Certificate, X509Certificate2Collection Intermediates);

/// <summary>
/// PEM files as cert-manager writes them (<c>tls.crt</c> with the leaf first, <c>tls.key</c>, <c>ca.crt</c>): loading,
/// start-up checks with errors that name the setting and the file, and verification of a peer's certificate against
/// configured authorities instead of the system's roots.
/// </summary>
public static class PemCertificates
{
    /// <summary>The certificate of <paramref name="certificatePath"/> with the key of <paramref name="keyPath"/>.</summary>
    /// <exception cref="InvalidDataException">A file holds no certificate or key, or the key is not the certificate's.</exception>
    public static CertificateWithChain Load(string certificatePath, string keyPath)
    {
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPemFile(certificatePath);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"'{certificatePath}' is not a PEM certificate: {ex.Message}", ex);
        }
        if (all.Count == 0)
        {
            throw new InvalidDataException($"'{certificatePath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }
        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"the key in '{keyPath}' does not belong to the certificate in '{certificatePath}' " +
                $"or is not a PEM private key: {ex.Message}", ex);
        }
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            intermediates.Add(all[i]);
        }
        all[0].Dispose();
        return new CertificateWithChain(leaf, intermediates);
    }

    /// <summary>The certificates of a PEM bundle (one or more CA certificates).</summary>
    /// <exception cref="InvalidDataException">The file holds no certificate.</exception>
    public static X509Certificate2Collection LoadAuthorities(string path)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"'{path}' is not a PEM certificate bundle: {ex.Message}", ex);
        }
        return authorities.Count > 0 ? authorities
            : throw new InvalidDataException($"'{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    /// <summary>Start-up checks of a certificate and key pair: both set, both present, the key the certificate's, the
    /// certificate valid now. Failures name the settings.</summary>
    public static void CheckPair(string certificateSetting, string certificatePath, string keySetting, string keyPath,
        TimeProvider time, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(keyPath))
        {
            failures.Add($"{keySetting} is required with {certificateSetting} (the PEM private key, e.g. tls.key).");
            return;
        }
        if (!FileExists(certificateSetting, certificatePath, failures) | !FileExists(keySetting, keyPath, failures))
        {
            return;
        }
        try
        {
            var loaded = Load(certificatePath, keyPath);
            using var certificate = loaded.Certificate;
            var now = time.GetUtcNow().UtcDateTime;
            if (certificate.NotAfter.ToUniversalTime() < now || certificate.NotBefore.ToUniversalTime() > now)
            {
                failures.Add($"{certificateSetting}: the certificate '{certificate.Subject}' in '{certificatePath}' is valid only from " +
                    $"{certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u}.");
            }
        }
        catch (InvalidDataException ex)
        {
            failures.Add($"{certificateSetting}/{keySetting}: {ex.Message}");
        }
    }

    /// <summary>Start-up check of a CA bundle: present and holding at least one certificate.</summary>
    public static void CheckAuthorities(string setting, string path, List<string> failures)
    {
        if (!FileExists(setting, path, failures))
        {
            return;
        }
        try
        {
            foreach (var authority in LoadAuthorities(path))
            {
                authority.Dispose();
            }
        }
        catch (InvalidDataException ex)
        {
            failures.Add($"{setting}: {ex.Message}");
        }
    }

    private static bool FileExists(string setting, string path, List<string> failures)
    {
        if (File.Exists(path))
        {
            return true;
        }
        failures.Add($"{setting}: the file '{path}' does not exist.");
        return false;
    }

    /// <summary>
    /// Whether a peer's certificate is acceptable when <paramref name="authorities"/> replace the system's roots: a
    /// certificate was presented, the host name matched (for a server's certificate; TLS reports it in
    /// <paramref name="errors"/>), and it chains to one of the authorities (through the intermediates it sent). Without
    /// authorities the system's verdict stands.
    /// </summary>
    public static bool IsTrusted(X509Certificate? certificate, X509Chain? presentedChain, SslPolicyErrors errors,
        X509Certificate2Collection? authorities)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) ||
            errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return false;
        }
        if (authorities is null || authorities.Count == 0)
        {
            return errors == SslPolicyErrors.None;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        if (presentedChain is not null)
        {
            foreach (var element in presentedChain.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        try
        {
            return chain.Build(leaf);
        }
        finally
        {
            if (!ReferenceEquals(leaf, certificate))
            {
                leaf.Dispose();
            }
        }
    }
}
