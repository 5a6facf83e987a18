using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Landmark.Storage;

/// <summary>
/// Checks <see cref="StorageOptions"/> at start-up: the data annotations of the nested <see cref="LocalStorageOptions"/>
/// and <see cref="S3StorageOptions"/> (which <c>ValidateDataAnnotations</c> does not visit), and, when
/// <see cref="StorageOptions.Provider"/> is S3, that Endpoint, AccessKey and SecretKey are set and the endpoint parses.
/// </summary>
public sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        Annotations(options.Local, "Local", failures);
        Annotations(options.S3, "S3", failures);
        try
        {
            BucketNames.Validate(options.HealthCheckBucket);
        }
        catch (ArgumentException ex)
        {
            failures.Add($"{StorageOptions.SectionName}:HealthCheckBucket: {ex.Message}");
        }
        switch (options.Provider)
        {
            case StorageProvider.Local:
                if (string.IsNullOrWhiteSpace(options.Local.Root))
                {
                    failures.Add($"{StorageOptions.SectionName}:Local:Root is required when Provider is Local.");
                }
                break;
            case StorageProvider.S3:
                var s3 = options.S3;
                foreach (var (field, value) in new[] { ("Endpoint", s3.Endpoint), ("AccessKey", s3.AccessKey), ("SecretKey", s3.SecretKey) })
                {
                    if (string.IsNullOrWhiteSpace(value))
                    {
                        failures.Add($"{StorageOptions.SectionName}:S3:{field} is required when Provider is S3.");
                    }
                }
                var parsed = S3Endpoint.TryParse(s3.Endpoint, s3.UseSsl, out _, out var secure);
                if (!string.IsNullOrWhiteSpace(s3.Endpoint) && !parsed)
                {
                    failures.Add($"{StorageOptions.SectionName}:S3:Endpoint '{s3.Endpoint}' is not host:port or an http(s) URL without a path.");
                }
                if (!string.IsNullOrWhiteSpace(s3.CaPath))
                {
                    if (parsed && !secure)
                    {
                        failures.Add($"{StorageOptions.SectionName}:S3:CaPath needs TLS: an https:// Endpoint or {StorageOptions.SectionName}:S3:UseSsl=true.");
                    }
                    try
                    {
                        S3Endpoint.LoadAuthorities(s3.CaPath);
                    }
                    catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
                    {
                        failures.Add($"{StorageOptions.SectionName}:S3:CaPath: {ex.Message}");
                    }
                }
                break;
            default:
                failures.Add($"{StorageOptions.SectionName}:Provider '{options.Provider}' is unknown (Local or S3).");
                break;
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Annotations(object section, string path, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true))
        {
            failures.AddRange(results.Select(r => $"{StorageOptions.SectionName}:{path}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
        }
    }
}

/// <summary>Parses <see cref="S3StorageOptions.Endpoint"/>.</summary>
internal static class S3Endpoint
{
    /// <summary>The certificates of a PEM bundle (<see cref="S3StorageOptions.CaPath"/>).</summary>
    public static System.Security.Cryptography.X509Certificates.X509Certificate2Collection LoadAuthorities(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"the file '{path}' does not exist.", path);
        }
        var authorities = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        authorities.ImportFromPemFile(path);
        return authorities.Count > 0 ? authorities
            : throw new InvalidDataException($"'{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    /// <summary><c>host:port</c> (or <c>host</c>) and whether to use TLS, from <c>host:port</c> or an http(s) URL.</summary>
    public static bool TryParse(string endpoint, bool useSsl, out string hostAndPort, out bool secure)
    {
        hostAndPort = "";
        secure = useSsl;
        var text = endpoint.Trim().TrimEnd('/');
        if (text.Contains("://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") ||
                uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query))
            {
                return false;
            }
            secure = uri.Scheme == "https";
            hostAndPort = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
            return true;
        }
        if (!Uri.TryCreate("http://" + text, UriKind.Absolute, out var plain) || plain.AbsolutePath != "/" ||
            !string.IsNullOrEmpty(plain.Query) || !string.IsNullOrEmpty(plain.UserInfo))
        {
            return false;
        }
        hostAndPort = text;
        return true;
    }
}
