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

    private readonly GrpcChannel _channel;
    private readonly WebApplication? _embedded;

    private LandmarkConnection(GrpcChannel channel, WebApplication? embedded, string description)
    {
        _channel = channel;
        _embedded = embedded;
        Description = description;
        var invoker = channel.Intercept(metadata =>
        {
            if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key)
            {
                metadata.Add("x-api-key", key);
            }
            return metadata;
        });
        Ingest = new IngestService.IngestServiceClient(invoker);
        Recognition = new RecognitionService.RecognitionServiceClient(invoker);
        Evaluation = new EvaluationService.EvaluationServiceClient(invoker);
        Models = new ModelService.ModelServiceClient(invoker);
    }

    public string Description { get; }
    public IngestService.IngestServiceClient Ingest { get; }
    public RecognitionService.RecognitionServiceClient Recognition { get; }
    public EvaluationService.EvaluationServiceClient Evaluation { get; }
    public ModelService.ModelServiceClient Models { get; }

    public static async Task<LandmarkConnection> OpenAsync(string? server, string dataDirectory, CancellationToken cancellationToken)
    {
        server ??= Environment.GetEnvironmentVariable(ServerVariable);
        if (!string.IsNullOrWhiteSpace(server))
        {
            var address = server.Contains("://", StringComparison.Ordinal) ? server : "http://" + server;
            return new LandmarkConnection(CreateChannel(address), null, $"server {address}");
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
        return new LandmarkConnection(CreateChannel(embeddedAddress), app, $"embedded platform (data in {Path.GetFullPath(dataDirectory)})");
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
        _channel.Dispose();
        if (_embedded is not null)
        {
            await _embedded.StopAsync();
            await _embedded.DisposeAsync();
        }
    }
}
