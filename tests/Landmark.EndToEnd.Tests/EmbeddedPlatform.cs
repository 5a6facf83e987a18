using Microsoft.AspNetCore.Builder;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Platform;
using Landmark.Testing;

namespace Landmark.EndToEnd.Tests;

/// <summary>An embedded platform on a free loopback port with its own data directory, plus clients over a real socket.</summary>
public sealed class EmbeddedPlatform : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EmbeddedPlatform(WebApplication app, GrpcChannel channel, string dataDirectory, int port)
    {
        _app = app;
        Channel = channel;
        DataDirectory = dataDirectory;
        Port = port;
        Ingest = new IngestService.IngestServiceClient(channel);
        Recognition = new RecognitionService.RecognitionServiceClient(channel);
        Evaluation = new EvaluationService.EvaluationServiceClient(channel);
        Models = new ModelService.ModelServiceClient(channel);
    }

    public GrpcChannel Channel { get; }

    /// <summary>The platform's services (same process), e.g. to register a model directly in the registry.</summary>
    public IServiceProvider Services => _app.Services;
    public string DataDirectory { get; }
    public int Port { get; }
    public IngestService.IngestServiceClient Ingest { get; }
    public RecognitionService.RecognitionServiceClient Recognition { get; }
    public EvaluationService.EvaluationServiceClient Evaluation { get; }
    public ModelService.ModelServiceClient Models { get; }

    public static async Task<EmbeddedPlatform> StartAsync(string dataDirectory, params string[] extraArgs)
    {
        var port = TestPaths.FreeTcpPort();
        string[] args =
        [
            $"--{PlatformHost.DataDirectoryKey}={dataDirectory}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={port}"),
            "--Landmark:Hosting:HttpPort=0",
            "--Logging:LogLevel:Default=Warning",
            .. extraArgs,
        ];
        var app = PlatformHost.Build(args);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A platform that fails to start (e.g. refused options) releases its data directory at once.
            await app.DisposeAsync();
            throw;
        }
        var channel = GrpcChannel.ForAddress(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"),
            new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        return new EmbeddedPlatform(app, channel, dataDirectory, port);
    }

    /// <summary>Waits until every id is indexed or rejected.</summary>
    public Task<IReadOnlyList<ImageRecord>> WaitForPipelineAsync(IReadOnlyCollection<string> ids, TimeSpan timeout) =>
        Pipeline.WaitAsync(Ingest, ids, timeout);

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
