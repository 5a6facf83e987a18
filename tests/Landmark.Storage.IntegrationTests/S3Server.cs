using Landmark.Storage;
using Landmark.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Storage.IntegrationTests;

/// <summary>The real S3 server of <see cref="S3TestServer"/> with a bucket prefix unique to this run.</summary>
public sealed class S3Server : IAsyncLifetime
{
    public string Endpoint { get; private set; } = "";
    public string AccessKey { get; private set; } = "";
    public string SecretKey { get; private set; } = "";

    /// <summary>Bucket prefix unique to this test run.</summary>
    public string Prefix { get; } = "it" + Guid.NewGuid().ToString("N")[..8] + "-";

    public Task InitializeAsync()
    {
        var server = S3TestServer.Ensure();
        Endpoint = server.Endpoint;
        AccessKey = server.AccessKey;
        SecretKey = server.SecretKey;
        return Task.CompletedTask;
    }

    public S3ObjectStore CreateStore(string? endpoint = null, int maxAttempts = 5) => new(Options.Create(new StorageOptions
    {
        Provider = StorageProvider.S3,
        S3 = new S3StorageOptions
        {
            Endpoint = endpoint ?? Endpoint,
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            BucketPrefix = Prefix,
            MaxAttempts = maxAttempts,
            RetryDelayMs = 50,
            TimeoutSeconds = 30,
        },
    }), NullLogger<S3ObjectStore>.Instance);

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition(Name)]
public sealed class S3Collection : ICollectionFixture<S3Server>
{
    public const string Name = "s3";
}
