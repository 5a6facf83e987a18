using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Start-up checks of <see cref="TlsOptions"/>: the certificate and its key both set, present, matching and valid now;
/// the CA bundle present and holding certificates; mTLS only with a CA to verify clients against; a client certificate
/// only with its key. Every failure names the setting and the file.
/// </summary>
public sealed class TlsOptionsValidator(TimeProvider time) : IValidateOptions<TlsOptions>
{
    private const string Section = TlsOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        var failures = new List<string>();
        if (options.Enabled)
        {
            PemCertificates.CheckPair($"{Section}:CertificatePath", options.CertificatePath, $"{Section}:KeyPath", options.KeyPath, time, failures);
        }
        else if (!string.IsNullOrWhiteSpace(options.KeyPath))
        {
            failures.Add($"{Section}:KeyPath is set without {Section}:CertificatePath (the PEM certificate, e.g. tls.crt).");
        }
        if (!string.IsNullOrWhiteSpace(options.CaPath))
        {
            PemCertificates.CheckAuthorities($"{Section}:CaPath", options.CaPath, failures);
        }
        if (options.RequireClientCertificate)
        {
            if (!options.Enabled)
            {
                failures.Add($"{Section}:RequireClientCertificate needs TLS: set {Section}:CertificatePath and {Section}:KeyPath.");
            }
            if (string.IsNullOrWhiteSpace(options.CaPath))
            {
                failures.Add($"{Section}:RequireClientCertificate needs {Section}:CaPath, the authority that client certificates must chain to.");
            }
        }
        if (!string.IsNullOrWhiteSpace(options.ClientCertificatePath))
        {
            PemCertificates.CheckPair($"{Section}:ClientCertificatePath", options.ClientCertificatePath, $"{Section}:ClientKeyPath",
                options.ClientKeyPath, time, failures);
        }
        else if (!string.IsNullOrWhiteSpace(options.ClientKeyPath))
        {
            failures.Add($"{Section}:ClientKeyPath is set without {Section}:ClientCertificatePath.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
