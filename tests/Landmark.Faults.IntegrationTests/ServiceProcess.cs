using System.Diagnostics;
using System.Globalization;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Landmark.Testing;

namespace Landmark.Faults.IntegrationTests;

/// <summary>One service running as its own OS process (<c>dotnet Landmark.X.dll</c> from its build output).</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly string _dll;
    private readonly string[] _args;
    private readonly string _log;
    private Process? _process;

    public ServiceProcess(string service, int grpcPort, string logDirectory, IEnumerable<string> args, string? instance = null)
    {
        Service = service;
        GrpcPort = grpcPort;
        var project = "Landmark." + char.ToUpperInvariant(service[0]) + service[1..];
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        _dll = Path.Combine(TestPaths.RepoRoot, "services", service, "bin", configuration, "net10.0", project + ".dll");
        if (!File.Exists(_dll))
        {
            throw new FileNotFoundException($"{_dll} is not built (build the solution first).", _dll);
        }
        _args = [.. args, string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={grpcPort}"), "--Landmark:Hosting:HttpPort=0"];
        _log = Path.Combine(logDirectory, (instance ?? service) + ".log");
    }

    public string Service { get; }
    public int GrpcPort { get; }
    public string Address => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{GrpcPort}");
    public int Starts { get; private set; }

    /// <summary>Starts the process and waits until its gRPC health check reports SERVING (unless <paramref name="waitServing"/> is false).</summary>
    public async Task StartAsync(TimeSpan? timeout = null, bool waitServing = true)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(_dll);
        foreach (var a in _args)
        {
            info.ArgumentList.Add(a);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {Service}");
        var writer = TextWriter.Synchronized(new StreamWriter(_log, append: true) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Starts++;
        if (waitServing)
        {
            await WaitServingAsync(timeout ?? TimeSpan.FromSeconds(60));
        }
    }

    public bool HasExited => _process is { HasExited: true };

    /// <summary>Waits for the process to end by itself; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process!.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Service} did not exit within {timeout}; log: {_log}\n{Tail()}");
        }
        return _process.ExitCode;
    }

    /// <summary>The process's log so far.</summary>
    public string Log => File.Exists(_log) ? File.ReadAllText(_log) : "";

    /// <summary>SIGKILL: no graceful shutdown, unacknowledged messages go back to the broker.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
    }

    /// <summary>The process's gRPC health status now (SERVING, NOT_SERVING, or why it could not be asked).</summary>
    public async Task<string> DescribeHealthAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return _process is null ? "not started" : $"exited with {_process.ExitCode}";
        }
        try
        {
            using var channel = GrpcChannel.ForAddress(Address);
            var response = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
            return response.Status.ToString();
        }
        catch (Grpc.Core.RpcException ex)
        {
            return $"health call failed: {ex.StatusCode}";
        }
    }

    private async Task WaitServingAsync(TimeSpan timeout)
    {
        using var channel = GrpcChannel.ForAddress(Address);
        var health = new Health.HealthClient(channel);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"{Service} exited with {_process.ExitCode}; log: {_log}\n{Tail()}");
            }
            try
            {
                var response = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                if (response.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }
            }
            catch (Grpc.Core.RpcException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Service} did not report SERVING within {timeout}; log: {_log}\n{Tail()}");
            }
            await Task.Delay(200);
        }
    }

    private string Tail() => File.Exists(_log) ? string.Join('\n', File.ReadLines(_log).TakeLast(20)) : "";

    public ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        return ValueTask.CompletedTask;
    }
}
