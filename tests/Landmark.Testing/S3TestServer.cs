using System.Diagnostics;

namespace Landmark.Testing;

/// <summary>
/// A real S3 endpoint for tests: the one named by S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY (and S3_DATA_DIR, as
/// .ci/run exports them), else Ceph radosgw started with tools/s3-server/start.sh (installs Debian's packages when
/// missing; needs root). Fails — never skips — when neither is possible.
/// </summary>
public sealed class S3TestServer
{
    private static readonly Lazy<S3TestServer> Shared = new(Start);

    private S3TestServer(string endpoint, string accessKey, string secretKey, string? dataDirectory)
    {
        Endpoint = endpoint;
        AccessKey = accessKey;
        SecretKey = secretKey;
        DataDirectory = dataDirectory;
    }

    public string Endpoint { get; }
    public string AccessKey { get; }
    public string SecretKey { get; }

    /// <summary>The start script's directory (PID files, ceph.conf), when known.</summary>
    public string? DataDirectory { get; }

    public static S3TestServer Ensure() => Shared.Value;

    private static S3TestServer Start()
    {
        if (Environment.GetEnvironmentVariable("S3_ENDPOINT") is { Length: > 0 } endpoint)
        {
            return new S3TestServer(endpoint, Environment.GetEnvironmentVariable("S3_ACCESS_KEY") ?? "",
                Environment.GetEnvironmentVariable("S3_SECRET_KEY") ?? "", Environment.GetEnvironmentVariable("S3_DATA_DIR"));
        }
        var script = Path.Combine(TestPaths.RepoRoot, "tools", "s3-server", "start.sh");
        var (code, stdout, stderr) = RabbitMqBroker.Run("bash", script, Path.Combine(Path.GetTempPath(), "landmark-s3-tests"));
        if (code != 0)
        {
            throw new InvalidOperationException($"Could not start the S3 server with {script}:\n{stderr}");
        }
        var env = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        return new S3TestServer(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env.GetValueOrDefault("S3_DATA_DIR"));
    }

    /// <summary>Kills the S3 gateway (radosgw) and starts it again after <paramref name="downtime"/>; the cluster and
    /// its objects stay.</summary>
    public void RestartGateway(TimeSpan downtime)
    {
        var dir = DataDirectory ?? throw new InvalidOperationException("S3 gateway restart needs S3_DATA_DIR (the start script's directory).");
        var pidFile = Path.Combine(dir, "run", "rgw.pid");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using (var process = Process.GetProcessById(pid))
        {
            process.Kill();
            process.WaitForExit(10_000);
        }
        Thread.Sleep(downtime);
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        foreach (var a in new[] { "radosgw", "--conf", Path.Combine(dir, "ceph.conf"), "-f", "-n", "client.rgw" })
        {
            info.ArgumentList.Add(a);
        }
        var rgw = Process.Start(info) ?? throw new InvalidOperationException("cannot start radosgw");
        File.WriteAllText(pidFile, rgw.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                http.GetAsync($"http://{Endpoint}/").GetAwaiter().GetResult().Dispose();
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                Thread.Sleep(250);
            }
        }
        throw new TimeoutException("radosgw did not come back within 60 s");
    }
}
