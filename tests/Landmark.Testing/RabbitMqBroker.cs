using System.Diagnostics;

namespace Landmark.Testing;

/// <summary>
/// A real RabbitMQ broker: the one named by RABBITMQ_HOST / RABBITMQ_PORT (as .ci/run starts it), else one started
/// here with tools/rabbitmq/start.sh (installs Debian's rabbitmq-server if needed). Each fixture gets its own
/// virtual host when rabbitmqctl can reach the broker, so runs never see each other's queues.
/// </summary>
public sealed class RabbitMqBroker
{
    private RabbitMqBroker(string host, int port, string user, string password, string? node)
    {
        Host = host;
        Port = port;
        User = user;
        Password = password;
        Node = node;
    }

    public string Host { get; }
    public int Port { get; }
    public string User { get; }
    public string Password { get; }
    public string? Node { get; }

    public static RabbitMqBroker Ensure()
    {
        if (Environment.GetEnvironmentVariable("RABBITMQ_HOST") is { Length: > 0 } host)
        {
            return new RabbitMqBroker(host,
                int.Parse(Environment.GetEnvironmentVariable("RABBITMQ_PORT") ?? "5672", System.Globalization.CultureInfo.InvariantCulture),
                Environment.GetEnvironmentVariable("RABBITMQ_USER") ?? "guest",
                Environment.GetEnvironmentVariable("RABBITMQ_PASSWORD") ?? "guest",
                Environment.GetEnvironmentVariable("RABBITMQ_NODE"));
        }
        var script = Path.Combine(TestPaths.RepoRoot, "tools", "rabbitmq", "start.sh");
        var (code, stdout, stderr) = Run("bash", script);
        if (code != 0)
        {
            throw new InvalidOperationException($"Could not start RabbitMQ with {script} (exit {code}):\n{stderr}");
        }
        var env = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        return new RabbitMqBroker(env["RABBITMQ_HOST"], int.Parse(env["RABBITMQ_PORT"], System.Globalization.CultureInfo.InvariantCulture),
            env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"], env.GetValueOrDefault("RABBITMQ_NODE"));
    }

    /// <summary>Creates a fresh virtual host, or returns "/" when the broker cannot be administered from here.</summary>
    public string CreateVirtualHost()
    {
        if (Node is null)
        {
            return "/";
        }
        var name = "landmark-test-" + Guid.NewGuid().ToString("N")[..8];
        var (code, _, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "add_vhost", name);
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl add_vhost failed: {stderr}");
        }
        (code, _, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "set_permissions", "-p", name, User, ".*", ".*", ".*");
        return code == 0 ? name : throw new InvalidOperationException($"rabbitmqctl set_permissions failed: {stderr}");
    }

    /// <summary>Queue name → message count in a virtual host.</summary>
    public IReadOnlyDictionary<string, int> ListQueues(string virtualHost)
    {
        if (Node is null)
        {
            return new Dictionary<string, int>();
        }
        var (code, stdout, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "list_queues", "-p", virtualHost, "name", "messages", "--no-table-headers");
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl list_queues failed: {stderr}");
        }
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t', ' '))
            .Where(p => p.Length >= 2)
            .ToDictionary(p => p[0], p => int.Parse(p[^1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Restarts the broker application (every connection drops; durable queues and persistent messages stay).</summary>
    public void Restart(TimeSpan downtime)
    {
        if (Node is null)
        {
            throw new InvalidOperationException("The broker cannot be restarted from here (no RABBITMQ_NODE).");
        }
        var (code, _, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "stop_app");
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl stop_app failed: {stderr}");
        }
        Thread.Sleep(downtime);
        (code, _, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "start_app");
        if (code != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl start_app failed: {stderr}");
        }
    }

    /// <summary>Each queue of a virtual host with its ready and unacknowledged messages and its consumers, one line per
    /// queue: what a stalled pipeline's failure message needs to say where the work sits.</summary>
    public string DescribeQueues(string virtualHost)
    {
        if (Node is null)
        {
            return "(queues unknown: no RABBITMQ_NODE)";
        }
        var (code, stdout, stderr) = Run("rabbitmqctl", "-q", "-n", Node, "list_queues", "-p", virtualHost,
            "name", "messages_ready", "messages_unacknowledged", "consumers", "--no-table-headers");
        return code == 0 ? "queue ready unacked consumers:\n" + stdout.Trim() : $"(rabbitmqctl list_queues failed: {stderr.Trim()})";
    }

    public void DeleteVirtualHost(string virtualHost)
    {
        if (Node is not null && virtualHost != "/")
        {
            Run("rabbitmqctl", "-q", "-n", Node, "delete_vhost", virtualHost);
        }
    }

    internal static (int Code, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(true);
            throw new TimeoutException($"{file} did not finish in 5 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
