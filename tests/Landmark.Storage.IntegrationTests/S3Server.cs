using System.Diagnostics;
using Landmark.Storage;
using Landmark.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Storage.IntegrationTests;

/// <summary>
/// A real S3 endpoint: the one in S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY (as .ci/run starts it), else Ceph radosgw
/// started here with tools/s3-server/start.sh (installs Debian's packages when missing; needs root). Fails — never
/// skips — when neither is possible.
/// </summary>
public sealed class S3Server : IAsyncLifetime
{
    public string Endpoint { get; private set; } = "";
    public string AccessKey { get; private set; } = "";
    public string SecretKey { get; private set; } = "";

    /// <summary>Bucket prefix unique to this test run.</summary>
    public string Prefix { get; } = "it" + Guid.NewGuid().ToString("N")[..8] + "-";

    public Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("S3_ENDPOINT") is { Length: > 0 } endpoint)
        {
            Endpoint = endpoint;
            AccessKey = Environment.GetEnvironmentVariable("S3_ACCESS_KEY") ?? "";
            SecretKey = Environment.GetEnvironmentVariable("S3_SECRET_KEY") ?? "";
            return Task.CompletedTask;
        }
        var script = Path.Combine(TestPaths.RepoRoot, "tools", "s3-server", "start.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(Path.Combine(Path.GetTempPath(), "landmark-s3-tests"));
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"Could not start the S3 server with {script}:\n{stderr.Result}");
        }
        var env = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        Endpoint = env["S3_ENDPOINT"];
        AccessKey = env["S3_ACCESS_KEY"];
        SecretKey = env["S3_SECRET_KEY"];
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
