using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Start-up checks of <see cref="AuthOptions"/>: every configured key has <see cref="AuthOptions.MinimumKeyLength"/> or
/// more characters (all of them, not just one), known scopes, no key listed twice; with
/// <see cref="AuthOptions.Required"/> at least one key and an internal credential for calls between services. Outside
/// the Development environment it also refuses the placeholder credentials of the development manifests
/// (<see cref="PlaceholderCredentials"/>) anywhere in the configuration.
/// </summary>
public sealed class AuthOptionsValidator(IHostEnvironment environment, IConfiguration configuration) : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var failures = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var count = 0;
        foreach (var (key, scopes, setting) in options.AllKeys())
        {
            count++;
            if (string.IsNullOrEmpty(key) || key.Length < AuthOptions.MinimumKeyLength)
            {
                failures.Add($"{setting} is shorter than {AuthOptions.MinimumKeyLength} characters.");
            }
            else if (!seen.Add(key))
            {
                failures.Add($"{setting} repeats a key configured before it (each key once, with all its scopes).");
            }
            if (scopes.Count == 0)
            {
                failures.Add($"{setting} has no scopes (Scopes:0=recognize, ingest, admin or internal).");
            }
            foreach (var scope in scopes.Where(s => !ApiScopes.IsKnown(s)))
            {
                failures.Add($"{setting} has the unknown scope '{scope}' (known: {string.Join(", ", ApiScopes.All)}).");
            }
        }
        if (options.Required)
        {
            if (count == 0)
            {
                failures.Add($"{AuthOptions.SectionName}:Required needs at least one key ({AuthOptions.SectionName}:Keys:0:Key with Scopes, " +
                    $"or {AuthOptions.SectionName}:ApiKeys:0) of {AuthOptions.MinimumKeyLength} or more characters.");
            }
            if (options.ConfiguredInternalKey() is null && !options.GenerateInternalKey)
            {
                failures.Add($"{AuthOptions.SectionName}:Required needs an internal key for calls between services: " +
                    $"{AuthOptions.SectionName}:InternalKeys:0 ({AuthOptions.MinimumKeyLength}+ characters, the same on every service).");
            }
        }
        if (!environment.IsDevelopment())
        {
            failures.AddRange(PlaceholderCredentials.Find(configuration).Select(setting =>
                $"{setting} holds a placeholder credential from the development manifests; set a real secret " +
                $"(placeholders are accepted only in the Development environment)."));
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// Credentials that are known to everyone because they ship in the repository's development manifests
/// (<c>k8s/overlays/dev-cpu</c>): anything containing <c>change-me</c>, such as <c>change-me-api-key-0000</c>,
/// <c>change-me-rabbitmq</c>, <c>change-me-minio-secret</c>.
/// </summary>
public static class PlaceholderCredentials
{
    public const string Marker = "change-me";

    /// <summary>The secret settings checked: API keys, the broker password, the object store's secret key, the
    /// vector index's API key.</summary>
    public static readonly IReadOnlyList<string> CheckedSettings =
    [
        "Landmark:Auth:ApiKeys:*",
        "Landmark:Auth:Keys:*:Key",
        "Landmark:Auth:InternalKeys:*",
        "Landmark:Messaging:RabbitMq:Password",
        "Landmark:Storage:S3:SecretKey",
        "Landmark:Index:Qdrant:ApiKey",
    ];

    public static bool IsPlaceholder(string? value) =>
        value is not null && value.Contains(Marker, StringComparison.OrdinalIgnoreCase);

    /// <summary>Names (never values) of the checked settings that hold a placeholder.</summary>
    public static IReadOnlyList<string> Find(IConfiguration configuration)
    {
        var found = new List<string>();
        foreach (var pattern in CheckedSettings)
        {
            foreach (var (path, value) in Expand(configuration, pattern.Split(':')))
            {
                if (IsPlaceholder(value))
                {
                    found.Add(path);
                }
            }
        }
        return found;
    }

    private static IEnumerable<(string Path, string? Value)> Expand(IConfiguration configuration, ReadOnlyMemory<string> parts)
    {
        var part = parts.Span[0];
        var rest = parts[1..];
        var children = part == "*" ? configuration.GetChildren() : [configuration.GetSection(part)];
        foreach (var child in children)
        {
            if (rest.IsEmpty)
            {
                yield return (child.Path, child.Value);
                continue;
            }
            foreach (var hit in Expand(child, rest))
            {
                yield return hit;
            }
        }
    }
}
