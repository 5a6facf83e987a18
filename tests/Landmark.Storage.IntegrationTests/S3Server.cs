using System.Diagnostics;
using Landmark.Testing;
using Microsoft.Extensions.Logging;
using Minio;
using Minio.DataModel.Args;
using Xunit;

namespace Landmark.Storage.IntegrationTests;

/// <summary>
/// A real S3 server for the test run: the one named by <c>S3_ENDPOINT</c> / <c>S3_ACCESS_KEY</c> / <c>S3_SECRET_KEY</c>
/// (as .ci/run exports them), else a private Ceph radosgw that this fixture starts with tools/s3-server/start.sh on
/// free ports in a temporary directory (installing Debian's packages when missing, which needs root) and stops at the
/// end. Fails, never skips, when no server can be had. Every run uses its own bucket prefix and removes its buckets.
/// </summary>
public sealed class S3Server : IAsyncLifetime
{
    private const string ScriptDirectory = "tools/s3-server";
    private string? _ownedDirectory;

    public string Endpoint { get; private set; } = "";
    public string AccessKey { get; private set; } = "";
    public string SecretKey { get; private set; } = "";

    /// <summary>Bucket prefix unique to this test run.</summary>
    public string Prefix { get; } = "it" + Guid.NewGuid().ToString("N")[..8] + "-";

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("S3_ENDPOINT") is { Length: > 0 } endpoint)
        {
            Endpoint = endpoint;
            AccessKey = Environment.GetEnvironmentVariable("S3_ACCESS_KEY") ?? "";
            SecretKey = Environment.GetEnvironmentVariable("S3_SECRET_KEY") ?? "";
            return;
        }
        _ownedDirectory = Path.Combine(Path.GetTempPath(), $"landmark-storage-it-{Guid.NewGuid():N}");
        var (code, stdout, stderr) = await RunScriptAsync("start.sh", _ownedDirectory, new Dictionary<string, string>
        {
            ["S3_PORT"] = TestPaths.FreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MON_PORT"] = TestPaths.FreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, TimeSpan.FromMinutes(5));
        var settings = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (code != 0 || !settings.TryGetValue("S3_ENDPOINT", out var started))
        {
            throw new InvalidOperationException(
                $"S3_ENDPOINT is not set and {ScriptDirectory}/start.sh could not start a Ceph radosgw (exit code {code}). " +
                $"Run the tests as root (the script installs ceph-mon, ceph-osd, radosgw) or point S3_ENDPOINT, S3_ACCESS_KEY and " +
                $"S3_SECRET_KEY at an S3 server.\n{stderr}");
        }
        Endpoint = started;
        AccessKey = settings["S3_ACCESS_KEY"];
        SecretKey = settings["S3_SECRET_KEY"];
    }

    public S3StorageOptions Options(string? endpoint = null, int maxAttempts = 5) => new()
    {
        Endpoint = endpoint ?? Endpoint,
        AccessKey = AccessKey,
        SecretKey = SecretKey,
        BucketPrefix = Prefix,
        MaxAttempts = maxAttempts,
        RetryDelayMs = 50,
        TimeoutSeconds = 60,
        ConnectTimeoutSeconds = 5,
    };

    public S3ObjectStore CreateStore(string? endpoint = null, int maxAttempts = 5, ILogger<S3ObjectStore>? logger = null) =>
        new(Options(endpoint, maxAttempts), logger);

    public async Task DisposeAsync()
    {
        if (_ownedDirectory is not null)
        {
            // The private server goes, with everything in it (the OSD keeps objects in RAM).
            var (code, _, stderr) = await RunScriptAsync("stop.sh", _ownedDirectory, new Dictionary<string, string>(), TimeSpan.FromMinutes(1));
            if (code != 0)
            {
                throw new InvalidOperationException($"{ScriptDirectory}/stop.sh {_ownedDirectory} failed: {stderr}");
            }
            return;
        }
        await RemoveRunBucketsAsync();
    }

    /// <summary>On a shared server, removes the buckets this run created (best effort: a failure leaves them).</summary>
    private async Task RemoveRunBucketsAsync()
    {
        using var client = (MinioClient)new MinioClient().WithEndpoint(Endpoint).WithCredentials(AccessKey, SecretKey).WithRegion("us-east-1").Build();
        try
        {
            var buckets = await client.ListBucketsAsync();
            foreach (var bucket in buckets.Buckets.Where(b => b.Name.StartsWith(Prefix, StringComparison.Ordinal)))
            {
                var keys = new List<string>();
                await foreach (var item in client.ListObjectsEnumAsync(new ListObjectsArgs().WithBucket(bucket.Name).WithRecursive(true)))
                {
                    keys.Add(item.Key);
                }
                foreach (var chunk in keys.Chunk(500))
                {
                    await client.RemoveObjectsAsync(new RemoveObjectsArgs().WithBucket(bucket.Name).WithObjects(chunk.ToList()));
                }
                await client.RemoveBucketAsync(new RemoveBucketArgs().WithBucket(bucket.Name));
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"Could not remove the test buckets {Prefix}*: {ex.Message}");
        }
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunScriptAsync(string script, string argument,
        Dictionary<string, string> environment, TimeSpan timeout)
    {
        var path = Path.Combine(TestPaths.RepoRoot, ScriptDirectory, script);
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(path);
        info.ArgumentList.Add(argument);
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Cannot run {path}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{path} {argument} did not finish within {timeout}. {await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}

[CollectionDefinition(Name)]
public sealed class S3Collection : ICollectionFixture<S3Server>
{
    public const string Name = "s3";
}
