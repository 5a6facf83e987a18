using Landmark.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Security.Tests;

public sealed class AuthOptionsTests
{
    private const string LongKey = "0123456789abcdef-long-key";
    private const string InternalKey = "internal-0123456789abcdef";

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    private static AuthOptions Bind(IConfiguration configuration) =>
        configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new AuthOptions();

    private static ValidateOptionsResult Validate(string environment, params (string Key, string Value)[] values)
    {
        var configuration = Config(values);
        var validator = new AuthOptionsValidator(new HostingEnvironment { EnvironmentName = environment }, configuration);
        return validator.Validate(Options.DefaultName, Bind(configuration));
    }

    private static ApiKeyRing Ring(params (string Key, string Value)[] values)
    {
        var configuration = Config(values);
        var services = new ServiceCollection();
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection(AuthOptions.SectionName));
        return new ApiKeyRing(services.BuildServiceProvider().GetRequiredService<IOptionsMonitor<AuthOptions>>());
    }

    [Fact]
    public void A_short_key_is_refused_even_beside_a_long_one()
    {
        var result = Validate(Environments.Production,
            ("Landmark:Auth:Required", "true"), ("Landmark:Auth:ApiKeys:0", LongKey), ("Landmark:Auth:ApiKeys:1", "short-key"),
            ("Landmark:Auth:InternalKeys:0", InternalKey));
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("Landmark:Auth:ApiKeys:1 is shorter than 16", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures!, f => f.Contains("ApiKeys:0", StringComparison.Ordinal));
    }

    [Fact]
    public void Short_scoped_and_internal_keys_are_refused_even_when_auth_is_not_required()
    {
        var result = Validate(Environments.Production,
            ("Landmark:Auth:Keys:0:Key", "tiny"), ("Landmark:Auth:Keys:0:Scopes:0", "admin"), ("Landmark:Auth:InternalKeys:0", "small"));
        Assert.Contains(result.Failures!, f => f.Contains("Landmark:Auth:Keys:0:Key is shorter", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Landmark:Auth:InternalKeys:0 is shorter", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_scopes_missing_scopes_and_repeated_keys_are_refused()
    {
        var result = Validate(Environments.Production,
            ("Landmark:Auth:Keys:0:Key", LongKey), ("Landmark:Auth:Keys:0:Scopes:0", "superuser"),
            ("Landmark:Auth:Keys:1:Key", LongKey + "-2"),
            ("Landmark:Auth:ApiKeys:0", LongKey));
        Assert.Contains(result.Failures!, f => f.Contains("unknown scope 'superuser'", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Landmark:Auth:Keys:1:Key has no scopes", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Landmark:Auth:Keys:0:Key repeats a key", StringComparison.Ordinal));
    }

    [Fact]
    public void Required_auth_needs_a_key_and_an_internal_credential()
    {
        var none = Validate(Environments.Production, ("Landmark:Auth:Required", "true"));
        Assert.Contains(none.Failures!, f => f.Contains("needs at least one key", StringComparison.Ordinal));
        var noInternal = Validate(Environments.Production, ("Landmark:Auth:Required", "true"), ("Landmark:Auth:ApiKeys:0", LongKey));
        Assert.Contains(noInternal.Failures!, f => f.Contains("Landmark:Auth:InternalKeys:0", StringComparison.Ordinal));
        Assert.True(Validate(Environments.Production, ("Landmark:Auth:Required", "true"), ("Landmark:Auth:ApiKeys:0", LongKey),
            ("Landmark:Auth:InternalKeys:0", InternalKey)).Succeeded);
        Assert.True(Validate(Environments.Production, ("Landmark:Auth:Required", "true"), ("Landmark:Auth:ApiKeys:0", LongKey),
            ("Landmark:Auth:Keys:0:Key", InternalKey), ("Landmark:Auth:Keys:0:Scopes:0", "internal")).Succeeded);
        Assert.True(Validate(Environments.Production, ("Landmark:Auth:Required", "true"), ("Landmark:Auth:ApiKeys:0", LongKey),
            ("Landmark:Auth:GenerateInternalKey", "true")).Succeeded);
    }

    [Theory]
    [InlineData("Landmark:Auth:ApiKeys:0", "change-me-api-key-0000")]
    [InlineData("Landmark:Auth:Keys:0:Key", "prefix-CHANGE-ME-suffix-long")]
    [InlineData("Landmark:Auth:InternalKeys:0", "change-me-internal-key-0000")]
    [InlineData("Landmark:Messaging:RabbitMq:Password", "change-me-rabbitmq")]
    [InlineData("Landmark:Storage:S3:SecretKey", "change-me-minio-secret")]
    [InlineData("Landmark:Index:Qdrant:ApiKey", "change-me-qdrant")]
    public void Placeholder_credentials_stop_start_up_outside_development_only(string setting, string value)
    {
        (string, string)[] With(string secret) => setting.StartsWith("Landmark:Auth:Keys:0", StringComparison.Ordinal)
            ? [(setting, secret), ("Landmark:Auth:Keys:0:Scopes:0", "admin")]
            : [(setting, secret)];
        var production = Validate(Environments.Production, With(value));
        Assert.True(production.Failed);
        var failure = Assert.Single(production.Failures!);
        Assert.Contains(setting, failure, StringComparison.Ordinal);
        Assert.DoesNotContain(value, failure, StringComparison.OrdinalIgnoreCase);
        Assert.True(Validate(Environments.Development, With(value)).Succeeded);
        Assert.True(Validate(Environments.Production, With("a-real-secret-0123456789")).Succeeded);
    }

    [Fact]
    public void Older_api_keys_hold_every_public_scope_but_not_internal()
    {
        using var ring = Ring(("Landmark:Auth:ApiKeys:0", LongKey));
        Assert.Equal([ApiScopes.Admin, ApiScopes.Ingest, ApiScopes.Recognize], ring.Find(LongKey)!.Order(StringComparer.Ordinal));
        Assert.Null(ring.InternalKey);
    }

    [Fact]
    public void Scoped_keys_hold_exactly_their_scopes_and_internal_keys_hold_all()
    {
        using var ring = Ring(
            ("Landmark:Auth:Keys:0:Key", LongKey), ("Landmark:Auth:Keys:0:Scopes:0", "recognize"),
            ("Landmark:Auth:InternalKeys:0", InternalKey));
        Assert.Equal([ApiScopes.Recognize], ring.Find(LongKey)!);
        Assert.Equal(ApiScopes.All.Order(StringComparer.Ordinal), ring.Find(InternalKey)!.Order(StringComparer.Ordinal));
        Assert.Equal(InternalKey, ring.InternalKey);
    }

    [Fact]
    public void Only_the_whole_key_matches()
    {
        using var ring = Ring(("Landmark:Auth:ApiKeys:0", LongKey));
        Assert.Null(ring.Find(LongKey[..16]));
        Assert.Null(ring.Find(LongKey + "x"));
        Assert.Null(ring.Find(LongKey.ToUpperInvariant()));
        Assert.Null(ring.Find(""));
    }

    [Fact]
    public void A_generated_internal_key_is_random_strong_and_holds_every_scope()
    {
        using var first = Ring(("Landmark:Auth:GenerateInternalKey", "true"));
        using var second = Ring(("Landmark:Auth:GenerateInternalKey", "true"));
        Assert.NotNull(first.InternalKey);
        Assert.True(first.InternalKey!.Length >= 32);
        Assert.NotEqual(first.InternalKey, second.InternalKey);
        Assert.Contains(ApiScopes.Internal, first.Find(first.InternalKey)!);
        Assert.Null(first.Find(second.InternalKey!));
    }

    [Fact]
    public void A_configured_internal_key_wins_over_generation()
    {
        using var ring = Ring(("Landmark:Auth:GenerateInternalKey", "true"), ("Landmark:Auth:InternalKeys:0", InternalKey));
        Assert.Equal(InternalKey, ring.InternalKey);
    }
}
