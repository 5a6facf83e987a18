using Microsoft.AspNetCore.Builder;
using System.Globalization;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Embedder;
using Landmark.Ingest;
using Landmark.Preprocess;
using Landmark.Retrieval;
using Landmark.Scorer;
using Landmark.Storage;
using Landmark.Testing;
using Landmark.Trainer;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Landmark.Distributed.IntegrationTests;

/// <summary>
/// The six services as separate hosts (each its own DI container, MassTransit bus, Kestrel server and port),
/// connected only through RabbitMQ, gRPC over loopback sockets and the shared object store (a directory, or with
/// <c>s3Storage</c> a real S3 server under a bucket prefix of its own).
/// </summary>
public class DistributedPlatform : IAsyncLifetime
{
    private readonly bool _s3Storage;
    private readonly string[] _extraArgs;
    private readonly string _bucketPrefix = "d" + Guid.NewGuid().ToString("N")[..8] + "-";
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-distributed");
    private readonly List<WebApplication> _hosts = [];
    private readonly List<GrpcChannel> _extraChannels = [];
    private Func<int, string[]> _args = _ => [];
    private S3TestServer? _s3;
    private readonly List<IDisposable> _stores = [];

    public DistributedPlatform() : this(s3Storage: false)
    {
    }

    /// <param name="s3Storage">Store objects on the S3 test server instead of a shared directory.</param>
    /// <param name="extraArgs">Configuration every host gets on top.</param>
    protected DistributedPlatform(bool s3Storage, params string[] extraArgs)
    {
        _s3Storage = s3Storage;
        _extraArgs = extraArgs;
    }

    public RabbitMqBroker Broker { get; private set; } = null!;
    public string VirtualHost { get; private set; } = "/";
    public GrpcChannel IngestChannel { get; private set; } = null!;
    public GrpcChannel ScorerChannel { get; private set; } = null!;
    public IngestService.IngestServiceClient Ingest { get; private set; } = null!;
    public RecognitionService.RecognitionServiceClient Recognition { get; private set; } = null!;
    public GrpcChannel TrainerChannel { get; private set; } = null!;
    public GrpcChannel RetrievalChannel { get; private set; } = null!;
    public ModelService.ModelServiceClient Models { get; private set; } = null!;

    /// <summary>Root of the local-disk object store every service shares (without S3).</summary>
    public string ObjectsPath => Path.Combine(_data.Path, "objects");

    /// <summary>The service hosts (ingest, preprocess, trainer, embedder, retrieval, scorer).</summary>
    public IReadOnlyList<WebApplication> Hosts => _hosts;

    public virtual async Task InitializeAsync()
    {
        Broker = RabbitMqBroker.Ensure();
        VirtualHost = Broker.CreateVirtualHost();
        _s3 = _s3Storage ? S3TestServer.Ensure() : null;
        string[] storage = _s3 is { } s3
            ?
            [
                "--Landmark:Storage:Provider=S3",
                $"--Landmark:Storage:S3:Endpoint={s3.Endpoint}",
                $"--Landmark:Storage:S3:AccessKey={s3.AccessKey}",
                $"--Landmark:Storage:S3:SecretKey={s3.SecretKey}",
                $"--Landmark:Storage:S3:BucketPrefix={_bucketPrefix}",
            ]
            : ["--Landmark:Storage:Provider=Local", $"--Landmark:Storage:Local:Root={ObjectsPath}"];

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
        string[] Args(string service) => _args(ports[service]);
        _args = port =>
        [
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={port}"),
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
            .. storage,
            "--Landmark:Index:Provider=Embedded",
            $"--Landmark:Index:Embedded:Path={Path.Combine(_data.Path, "index")}",
            $"--Landmark:Endpoints:Ingest={Url("ingest")}",
            $"--Landmark:Endpoints:Embedder={Url("embedder")}",
            $"--Landmark:Endpoints:Retrieval={Url("retrieval")}",
            "--Logging:LogLevel:Default=Warning",
            .. _extraArgs,
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
        foreach (var host in _hosts)
        {
            await WaitForBusAsync(host);
        }

        IngestChannel = GrpcChannel.ForAddress(Url("ingest"));
        ScorerChannel = GrpcChannel.ForAddress(Url("scorer"));
        Ingest = new IngestService.IngestServiceClient(IngestChannel);
        Recognition = new RecognitionService.RecognitionServiceClient(ScorerChannel);
        TrainerChannel = GrpcChannel.ForAddress(Url("trainer"));
        RetrievalChannel = GrpcChannel.ForAddress(Url("retrieval"));
        Models = new ModelService.ModelServiceClient(TrainerChannel);
    }

    /// <summary>Starts one more embedder host (a replica competing for the embed queues) and returns a channel to it.</summary>
    public Task<GrpcChannel> StartEmbedderReplicaAsync(params string[] extraArgs) =>
        StartReplicaAsync(port => EmbedderHost.Build([.. _args(port), .. extraArgs]));

    /// <summary>Starts one more ingest host (a replica sharing the catalog queues and the object store) and returns a
    /// channel to it.</summary>
    public Task<GrpcChannel> StartIngestReplicaAsync() => StartReplicaAsync(port => IngestHost.Build(_args(port)));

    /// <summary>True when the trainer reports <paramref name="version"/> rolled out and live.</summary>
    public async Task<bool> IsLiveAsync(string version)
    {
        var status = await Models.GetRolloutAsync(new GetRolloutRequest());
        return status.Version == version && status.State == RolloutStatus.Types.State.Live && status.LiveVersion == version;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; a <see cref="TimeoutException"/> naming
    /// <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }
            await Task.Delay(200);
        }
    }

    private async Task<GrpcChannel> StartReplicaAsync(Func<int, WebApplication> build)
    {
        var port = TestPaths.FreeTcpPort();
        var host = build(port);
        _hosts.Add(host);
        await host.StartAsync();
        await WaitForBusAsync(host);
        var channel = GrpcChannel.ForAddress(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
        _extraChannels.Add(channel);
        return channel;
    }

    /// <summary>A client of the object store the services share (disposed with the platform).</summary>
    public IObjectStore CreateStore()
    {
        if (_s3 is not { } s3)
        {
            return new LocalDiskObjectStore(ObjectsPath);
        }
        var store = new S3ObjectStore(new S3StorageOptions { Endpoint = s3.Endpoint, AccessKey = s3.AccessKey, SecretKey = s3.SecretKey, BucketPrefix = _bucketPrefix });
        _stores.Add(store);
        return store;
    }

    /// <summary>Waits until the host's bus has started every receive endpoint: a message published earlier would
    /// find its queues not bound yet, and RabbitMQ drops messages that match no queue.</summary>
    private static async Task WaitForBusAsync(WebApplication host)
    {
        if (host.Services.GetService<IBusControl>() is not { } bus)
        {
            return;
        }
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (bus.CheckHealth().Status != BusHealthStatus.Healthy)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the bus of {host.Environment.ApplicationName} did not become healthy: {bus.CheckHealth().Description}");
            }
            await Task.Delay(100);
        }
    }

    public Task<IReadOnlyList<ImageRecord>> WaitForPipelineAsync(IReadOnlyCollection<string> ids, TimeSpan timeout) =>
        Pipeline.WaitAsync(Ingest, ids, timeout);

    public virtual async Task DisposeAsync()
    {
        IngestChannel?.Dispose();
        ScorerChannel?.Dispose();
        TrainerChannel?.Dispose();
        RetrievalChannel?.Dispose();
        _extraChannels.ForEach(c => c.Dispose());
        _stores.ForEach(s => s.Dispose());
        foreach (var host in Enumerable.Reverse(_hosts))
        {
            await host.StopAsync();
            await host.DisposeAsync();
        }
        Broker?.DeleteVirtualHost(VirtualHost);
        _data.Dispose();
    }
}
