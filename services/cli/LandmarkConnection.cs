using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
#if EMBEDDED_PLATFORM
using Landmark.Platform;
#endif

namespace Landmark.Cli;

/// <summary>A connection to the platform: a remote server (<c>--server</c>) or an embedded platform started in-process
/// (the full CLI only: the thin client, built without EMBEDDED_PLATFORM, needs a server).</summary>
public sealed class LandmarkConnection : IAsyncDisposable
{
    public const string ServerVariable = "LANDMARK_SERVER";
    public const string ApiKeyVariable = "LANDMARK_API_KEY";

    /// <summary>In the distributed mode the public API is served by three services; these variables name each one
    /// (each defaults to --server / LANDMARK_SERVER).</summary>
    public const string IngestServerVariable = "LANDMARK_INGEST_SERVER";
    public const string ScorerServerVariable = "LANDMARK_SCORER_SERVER";
    public const string TrainerServerVariable = "LANDMARK_TRAINER_SERVER";

    private readonly List<GrpcChannel> _channels = [];
#if EMBEDDED_PLATFORM
    private readonly WebApplication? _embedded;
#else
    private readonly IAsyncDisposable? _embedded = null;
#endif

#if EMBEDDED_PLATFORM
    private LandmarkConnection(string ingest, string scorer, string trainer, WebApplication? embedded, string description)
    {
        _embedded = embedded;
#else
    private LandmarkConnection(string ingest, string scorer, string trainer, string description)
    {
#endif
        Description = description;
        Ingest = new IngestService.IngestServiceClient(Invoker(ingest));
        var scorerInvoker = Invoker(scorer);
        Recognition = new RecognitionService.RecognitionServiceClient(scorerInvoker);
        Evaluation = new EvaluationService.EvaluationServiceClient(scorerInvoker);
        var trainerInvoker = Invoker(trainer);
        Models = new ModelService.ModelServiceClient(trainerInvoker);
        Training = new TrainingService.TrainingServiceClient(trainerInvoker);
    }

    private CallInvoker Invoker(string address)
    {
        var channel = CreateChannel(address);
        _channels.Add(channel);
        return channel.Intercept(metadata =>
        {
            if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key)
            {
                metadata.Add("x-api-key", key);
            }
            return metadata;
        });
    }

    public string Description { get; }

#if EMBEDDED_PLATFORM
    /// <summary>The in-process platform's services (embedded mode), or null for a remote server.</summary>
    public IServiceProvider? EmbeddedServices => _embedded?.Services;
#endif

    /// <summary>True when the platform runs inside this process (its in-memory messages end with it).</summary>
    public bool IsEmbedded => _embedded is not null;
    public IngestService.IngestServiceClient Ingest { get; }
    public RecognitionService.RecognitionServiceClient Recognition { get; }
    public EvaluationService.EvaluationServiceClient Evaluation { get; }
    public ModelService.ModelServiceClient Models { get; }
    public TrainingService.TrainingServiceClient Training { get; }

    public static async Task<LandmarkConnection> OpenAsync(string? server, string dataDirectory, CancellationToken cancellationToken)
    {
        server ??= Environment.GetEnvironmentVariable(ServerVariable);
        var ingest = Environment.GetEnvironmentVariable(IngestServerVariable) ?? server;
        var scorer = Environment.GetEnvironmentVariable(ScorerServerVariable) ?? server;
        var trainer = Environment.GetEnvironmentVariable(TrainerServerVariable) ?? server;
        if (!string.IsNullOrWhiteSpace(ingest) && !string.IsNullOrWhiteSpace(scorer) && !string.IsNullOrWhiteSpace(trainer))
        {
            static string Url(string a) => a.Contains("://", StringComparison.Ordinal) ? a : "http://" + a;
            var description = ingest == scorer && scorer == trainer ? $"server {Url(ingest)}" : $"ingest {Url(ingest)}, scorer {Url(scorer)}, trainer {Url(trainer)}";
#if EMBEDDED_PLATFORM
            return new LandmarkConnection(Url(ingest), Url(scorer), Url(trainer), null, description);
#else
            return new LandmarkConnection(Url(ingest), Url(scorer), Url(trainer), description);
#endif
        }
#if !EMBEDDED_PLATFORM
        await Task.CompletedTask;
        throw new ArgumentException($"No server: pass --server HOST:PORT or set ${ServerVariable}. This thin client only talks to a running " +
            "platform; the full CLI (services/cli) also runs one in-process.");
#else

        var port = FreePort();
        var app = PlatformHost.Build(
        [
            $"--{PlatformHost.DataDirectoryKey}={dataDirectory}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={port}"),
            "--Landmark:Hosting:HttpPort=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
            // A check that is not passing yet (the live model still loading) is the CLI's to wait for, not an error to print.
            "--Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks=Critical",
            // The platform's log lines go to stderr: stdout holds the command's output (one JSON document with --json).
            "--Logging:Console:LogToStandardErrorThreshold=Trace",
        ]);
        await app.StartAsync(cancellationToken);
        var embeddedAddress = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
        return new LandmarkConnection(embeddedAddress, embeddedAddress, embeddedAddress, app, $"embedded platform (data in {Path.GetFullPath(dataDirectory)})");
#endif
    }

    private static GrpcChannel CreateChannel(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        MaxReceiveMessageSize = 64 * 1024 * 1024,
        MaxSendMessageSize = 64 * 1024 * 1024,
    });

#if EMBEDDED_PLATFORM
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
#endif

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        if (_embedded is not null)
        {
#if EMBEDDED_PLATFORM
            await _embedded.StopAsync();
#endif
            await _embedded.DisposeAsync();
        }
    }
}
