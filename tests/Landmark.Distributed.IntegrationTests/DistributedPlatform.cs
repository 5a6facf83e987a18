using Microsoft.AspNetCore.Builder;
using System.Globalization;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Embedder;
using Landmark.Ingest;
using Landmark.Preprocess;
using Landmark.Retrieval;
using Landmark.Scorer;
using Landmark.Testing;
using Landmark.Trainer;
using Xunit;

namespace Landmark.Distributed.IntegrationTests;

/// <summary>
/// The six services as separate hosts (each its own DI container, MassTransit bus, Kestrel server and port),
/// connected only through RabbitMQ, gRPC over loopback sockets and the shared object store directory.
/// </summary>
public sealed class DistributedPlatform : IAsyncLifetime
{
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-distributed");
    private readonly List<WebApplication> _hosts = [];

    public RabbitMqBroker Broker { get; private set; } = null!;
    public string VirtualHost { get; private set; } = "/";
    public GrpcChannel IngestChannel { get; private set; } = null!;
    public GrpcChannel ScorerChannel { get; private set; } = null!;
    public IngestService.IngestServiceClient Ingest { get; private set; } = null!;
    public RecognitionService.RecognitionServiceClient Recognition { get; private set; } = null!;

    /// <summary>The service hosts (ingest, preprocess, trainer, embedder, retrieval, scorer).</summary>
    public IReadOnlyList<WebApplication> Hosts => _hosts;

    public async Task InitializeAsync()
    {
        Broker = RabbitMqBroker.Ensure();
        VirtualHost = Broker.CreateVirtualHost();

        var ports = new Dictionary<string, int>
        {
            ["ingest"] = TestPaths.FreeTcpPort(),
            ["preprocess"] = TestPaths.FreeTcpPort(),
            ["trainer"] = TestPaths.FreeTcpPort(),
            ["embedder"] = TestPaths.FreeTcpPort(),
            ["retrieval"] = TestPaths.FreeTcpPort(),
            ["scorer"] = TestPaths.FreeTcpPort(),
        };
        string Url(string service) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{ports[service]}");
        string[] Args(string service) =>
        [
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={ports[service]}"),
            "--Landmark:Hosting:HttpPort=0",
            "--Landmark:Hosting:ListenOnAnyAddress=false",
            "--Landmark:Messaging:Transport=RabbitMq",
            $"--Landmark:Messaging:RabbitMq:Host={Broker.Host}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Messaging:RabbitMq:Port={Broker.Port}"),
            $"--Landmark:Messaging:RabbitMq:VirtualHost={VirtualHost}",
            $"--Landmark:Messaging:RabbitMq:Username={Broker.User}",
            $"--Landmark:Messaging:RabbitMq:Password={Broker.Password}",
            "--Landmark:Messaging:RetryLimit=2",
            "--Landmark:Messaging:RetryInitialDelayMs=50",
            "--Landmark:Storage:Provider=Local",
            $"--Landmark:Storage:Local:Root={Path.Combine(_data.Path, "objects")}",
            "--Landmark:Index:Provider=Embedded",
            $"--Landmark:Index:Embedded:Path={Path.Combine(_data.Path, "index")}",
            $"--Landmark:Endpoints:Ingest={Url("ingest")}",
            $"--Landmark:Endpoints:Embedder={Url("embedder")}",
            $"--Landmark:Endpoints:Retrieval={Url("retrieval")}",
            $"--Landmark:Endpoints:Trainer={Url("trainer")}",
            "--Logging:LogLevel:Default=Warning",
        ];

        _hosts.Add(IngestHost.Build(Args("ingest")));
        _hosts.Add(PreprocessHost.Build(Args("preprocess")));
        _hosts.Add(TrainerHost.Build(Args("trainer")));
        _hosts.Add(EmbedderHost.Build(Args("embedder")));
        _hosts.Add(RetrievalHost.Build(Args("retrieval")));
        _hosts.Add(ScorerHost.Build(Args("scorer")));
        foreach (var host in _hosts)
        {
            await host.StartAsync();
        }

        IngestChannel = GrpcChannel.ForAddress(Url("ingest"));
        ScorerChannel = GrpcChannel.ForAddress(Url("scorer"));
        Ingest = new IngestService.IngestServiceClient(IngestChannel);
        Recognition = new RecognitionService.RecognitionServiceClient(ScorerChannel);
    }

    public Task<IReadOnlyList<ImageRecord>> WaitForPipelineAsync(IReadOnlyCollection<string> ids, TimeSpan timeout) =>
        Pipeline.WaitAsync(Ingest, ids, timeout);

    public async Task DisposeAsync()
    {
        IngestChannel?.Dispose();
        ScorerChannel?.Dispose();
        foreach (var host in Enumerable.Reverse(_hosts))
        {
            await host.StopAsync();
            await host.DisposeAsync();
        }
        Broker?.DeleteVirtualHost(VirtualHost);
        _data.Dispose();
    }
}
