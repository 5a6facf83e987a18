namespace Landmark.ServiceDefaults;

/// <summary>
/// Authentication of gRPC callers. Bound from <c>Landmark:Auth</c>. With <see cref="Required"/> every method of every
/// service needs a key in the <c>x-api-key</c> header that holds the method's scope (<see cref="ApiScopes"/>,
/// <see cref="MethodAccessPolicy"/>); only gRPC health (and reflection, see <see cref="AllowReflectionWithoutKey"/>) is
/// open. Keys come from three lists:
/// <list type="bullet">
/// <item><see cref="Keys"/>: a key with its scopes (<c>Landmark:Auth:Keys:0:Key</c>, <c>Landmark:Auth:Keys:0:Scopes:0=admin</c>).</item>
/// <item><see cref="ApiKeys"/>: the older form, a bare key with every public scope (recognize, ingest, admin) but not
/// <c>internal</c>.</item>
/// <item><see cref="InternalKeys"/>: the platform's own credential for calls between services: every scope, including
/// <c>internal</c>. The platform's gRPC clients send the first one.</item>
/// </list>
/// </summary>
public sealed class AuthOptions
{
    public const string SectionName = "Landmark:Auth";

    /// <summary>Metadata header that carries the key.</summary>
    public const string ApiKeyHeader = "x-api-key";

    /// <summary>Shortest key accepted at start-up.</summary>
    public const int MinimumKeyLength = 16;

    /// <summary>When true, every call (except gRPC health and, if allowed, reflection) needs a key with the method's scope.</summary>
    public bool Required { get; set; }

    /// <summary>Keys with every public scope (<c>recognize</c>, <c>ingest</c>, <c>admin</c>), kept from before scopes existed.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Keys with explicit scopes.</summary>
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>Credentials of the platform's own services: every scope, including <c>internal</c>, which is the only
    /// scope that <c>landmark.internal.v1.*</c> (embedder, retrieval) accept. The same list on every service.</summary>
    public List<string> InternalKeys { get; set; } = [];

    /// <summary>Whether gRPC server reflection answers without a key while <see cref="Required"/> is set. Unset: yes
    /// in the Development environment, no elsewhere (then any valid key may use it).</summary>
    public bool? AllowReflectionWithoutKey { get; set; }

    /// <summary>When no internal key is configured, make a random one for this process. Only right when every caller
    /// of the internal services is this same process (the embedded platform sets it); a separately deployed service
    /// needs <see cref="InternalKeys"/>.</summary>
    public bool GenerateInternalKey { get; set; }

    /// <summary>Whether reflection is open in the given environment.</summary>
    public bool ReflectionIsOpen(bool isDevelopment) => AllowReflectionWithoutKey ?? isDevelopment;

    /// <summary>Every configured key with its scopes (the older and internal lists expanded).</summary>
    public IEnumerable<(string Key, IReadOnlyCollection<string> Scopes, string Setting)> AllKeys()
    {
        for (var i = 0; i < ApiKeys.Count; i++)
        {
            yield return (ApiKeys[i], ApiScopes.Public, $"{SectionName}:ApiKeys:{i}");
        }
        for (var i = 0; i < Keys.Count; i++)
        {
            yield return (Keys[i].Key, Keys[i].Scopes, $"{SectionName}:Keys:{i}:Key");
        }
        for (var i = 0; i < InternalKeys.Count; i++)
        {
            yield return (InternalKeys[i], ApiScopes.All, $"{SectionName}:InternalKeys:{i}");
        }
    }

    /// <summary>The key the platform's own clients present: the first internal key, or the first key with the
    /// <c>internal</c> scope; null when none is configured.</summary>
    public string? ConfiguredInternalKey() =>
        InternalKeys.FirstOrDefault(k => !string.IsNullOrEmpty(k))
        ?? Keys.FirstOrDefault(k => !string.IsNullOrEmpty(k.Key) && k.Scopes.Contains(ApiScopes.Internal, StringComparer.Ordinal))?.Key;
}

/// <summary>One key and what it may do. Bound from <c>Landmark:Auth:Keys:N</c>.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>The secret itself (16 or more characters).</summary>
    public string Key { get; set; } = "";

    /// <summary>Scopes of <see cref="ApiScopes"/>: <c>recognize</c>, <c>ingest</c>, <c>admin</c>, <c>internal</c>.</summary>
    public List<string> Scopes { get; set; } = [];
}
