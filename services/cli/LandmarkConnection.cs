using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Platform;

namespace Landmark.Cli;

/// <summary>A connection to the platform: a remote server (<c>--server</c>) or an embedded platform started in-process.</summary>
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
    private readonly WebApplication? _embedded;

    private LandmarkConnection(string ingest, string scorer, string trainer, WebApplication? embedded, string description)
    {
        _embedded = embedded;
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

    /// <summary>The in-process platform's services (embedded mode), or null for a remote server.</summary>
    public IServiceProvider? EmbeddedServices => _embedded?.Services;

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
            return new LandmarkConnection(Url(ingest), Url(scorer), Url(trainer), null,
                ingest == scorer && scorer == trainer ? $"server {Url(ingest)}" : $"ingest {Url(ingest)}, scorer {Url(scorer)}, trainer {Url(trainer)}");
        }

        var port = FreePort();
        var app = PlatformHost.Build(
        [
            $"--{PlatformHost.DataDirectoryKey}={dataDirectory}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={port}"),
            "--Landmark:Hosting:HttpPort=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
        ]);
        await app.StartAsync(cancellationToken);
        var embeddedAddress = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
        return new LandmarkConnection(embeddedAddress, embeddedAddress, embeddedAddress, app, $"embedded platform (data in {Path.GetFullPath(dataDirectory)})");
    }

    private static GrpcChannel CreateChannel(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        MaxReceiveMessageSize = 64 * 1024 * 1024,
        MaxSendMessageSize = 64 * 1024 * 1024,
    });

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        if (_embedded is not null)
        {
            await _embedded.StopAsync();
            await _embedded.DisposeAsync();
        }
    }
}
