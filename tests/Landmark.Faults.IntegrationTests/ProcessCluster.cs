using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Testing;

namespace Landmark.Faults.IntegrationTests;

/// <summary>
/// The distributed platform as six OS processes on loopback: RabbitMQ (own virtual host), S3 (own bucket prefix),
/// the embedded index in a directory of its own. One instance per test.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    public static readonly string[] ServiceNames = ["ingest", "preprocess", "trainer", "embedder", "retrieval", "scorer"];

    private readonly TempDirectory _work = TestPaths.CreateTempDirectory("landmark-faults");

    /// <summary>Service logs, kept after the test under artifacts/test-logs/.</summary>
    public string LogDirectory { get; } = Directory.CreateDirectory(Path.Combine(TestPaths.RepoRoot, "artifacts", "test-logs",
        "faults-" + DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6])).FullName;
    private readonly Dictionary<string, ServiceProcess> _services = [];
    private readonly List<ServiceProcess> _extraEmbedders = [];
    private GrpcChannel? _ingestChannel;
    private GrpcChannel? _retrievalChannel;

    private ProcessCluster(RabbitMqBroker broker, S3TestServer s3, string virtualHost)
    {
        Broker = broker;
        S3 = s3;
        VirtualHost = virtualHost;
    }

    public RabbitMqBroker Broker { get; }
    public S3TestServer S3 { get; }
    public string VirtualHost { get; }
    public IngestService.IngestServiceClient Ingest { get; private set; } = null!;
    public RetrievalService.RetrievalServiceClient Retrieval { get; private set; } = null!;
    public ServiceProcess this[string service] => _services[service];

    /// <summary>The embedder replicas beyond the first (<see cref="StartAsync"/> with more than one).</summary>
    public IReadOnlyList<ServiceProcess> ExtraEmbedders => _extraEmbedders;

    /// <summary>Starts the six services; with <paramref name="embedderReplicas"/> above one, more embedder processes, and
    /// the callers of the embedder get every replica as a <c>static:///</c> address (client-side round-robin). Each
    /// embedder then logs the requests it serves.</summary>
    public static async Task<ProcessCluster> StartAsync(int embedderReplicas = 1)
    {
        var broker = RabbitMqBroker.Ensure();
        var cluster = new ProcessCluster(broker, S3TestServer.Ensure(), broker.CreateVirtualHost());
        await cluster.StartServicesAsync(embedderReplicas);
        return cluster;
    }

    private async Task StartServicesAsync(int embedderReplicas)
    {
        var ports = ServiceNames.ToDictionary(s => s, _ => TestPaths.FreeTcpPort());
        var extraPorts = Enumerable.Range(1, embedderReplicas - 1).Select(_ => TestPaths.FreeTcpPort()).ToList();
        string Url(string s) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{ports[s]}");
        var embedderAddress = extraPorts.Count == 0
            ? Url("embedder")
            : "static:///" + string.Join(",", extraPorts.Prepend(ports["embedder"]).Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}")));
        var prefix = "f" + Guid.NewGuid().ToString("N")[..8] + "-";
        string[] common =
        [
            "--Landmark:Hosting:ListenOnAnyAddress=false",
            // These tests are about messages and storage surviving faults, not about the model: the training-free
            // baseline keeps the two cores free for the broker's and the services' recovery (the pretrained ResNet-18
            // saturated them while RabbitMQ restarted).
            "--Landmark:Embedder:DefaultModel=baseline",
            "--Landmark:Messaging:Transport=RabbitMq",
            $"--Landmark:Messaging:RabbitMq:Host={Broker.Host}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Messaging:RabbitMq:Port={Broker.Port}"),
            $"--Landmark:Messaging:RabbitMq:VirtualHost={VirtualHost}",
            $"--Landmark:Messaging:RabbitMq:Username={Broker.User}",
            $"--Landmark:Messaging:RabbitMq:Password={Broker.Password}",
            "--Landmark:Messaging:RetryLimit=8",
            "--Landmark:Storage:Provider=S3",
            $"--Landmark:Storage:S3:Endpoint={S3.Endpoint}",
            $"--Landmark:Storage:S3:AccessKey={S3.AccessKey}",
            $"--Landmark:Storage:S3:SecretKey={S3.SecretKey}",
            $"--Landmark:Storage:S3:BucketPrefix={prefix}",
            "--Landmark:Storage:S3:MaxAttempts=4",
            "--Landmark:Index:Provider=Embedded",
            $"--Landmark:Index:Embedded:Path={Path.Combine(_work.Path, "index")}",
            $"--Landmark:Endpoints:Ingest={Url("ingest")}",
            $"--Landmark:Endpoints:Embedder={embedderAddress}",
            $"--Landmark:Endpoints:Retrieval={Url("retrieval")}",
            "--Logging:LogLevel:Default=Warning",
        ];
        // With replicas, each embedder logs every request it serves (ASP.NET Core's request log), which the tests count.
        string[] embedderArgs = extraPorts.Count == 0 ? common : [.. common, "--Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics=Information"];
        foreach (var name in ServiceNames)
        {
            _services[name] = new ServiceProcess(name, ports[name], LogDirectory, name == "embedder" ? embedderArgs : common);
        }
        for (var i = 0; i < extraPorts.Count; i++)
        {
            _extraEmbedders.Add(new ServiceProcess("embedder", extraPorts[i], LogDirectory, embedderArgs, instance: $"embedder-{i + 2}"));
        }
        // Storage buckets and the model registry are created by the first services; start them in dependency order.
        foreach (var name in ServiceNames)
        {
            await _services[name].StartAsync();
        }
        foreach (var extra in _extraEmbedders)
        {
            await extra.StartAsync();
        }
        _ingestChannel = GrpcChannel.ForAddress(Url("ingest"), new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        _retrievalChannel = GrpcChannel.ForAddress(Url("retrieval"));
        Ingest = new IngestService.IngestServiceClient(_ingestChannel);
        Retrieval = new RetrievalService.RetrievalServiceClient(_retrievalChannel);
    }

    /// <summary>Uploads one image, retrying while the platform is degraded (as an upstream caller would).</summary>
    public async Task<(string ImageId, int Attempts)> UploadWithRetryAsync(byte[] bytes, ImageMetadata metadata, TimeSpan giveUpAfter)
    {
        var deadline = DateTime.UtcNow + giveUpAfter;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var response = await Ingest.UploadImageAsync(new UploadImageRequest { Metadata = metadata, Content = ByteString.CopyFrom(bytes) },
                    deadline: DateTime.UtcNow.AddSeconds(30));
                return (response.ImageId, attempt);
            }
            catch (RpcException ex) when (ex.StatusCode != StatusCode.InvalidArgument && DateTime.UtcNow < deadline)
            {
                await Task.Delay(Math.Min(2000, 100 * attempt));
            }
        }
    }

    /// <summary>Waits until every id is indexed or rejected; on time-out the message also lists the virtual host's queues
    /// (ready, unacknowledged, consumers) and each service's health, which say which stage holds the work.</summary>
    public async Task<IReadOnlyList<ImageRecord>> WaitForPipelineAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        try
        {
            return await Pipeline.WaitAsync(Ingest, ids, timeout, $"logs in {LogDirectory}");
        }
        catch (TimeoutException ex)
        {
            var health = new List<string>();
            foreach (var service in _services.Values.Concat(_extraEmbedders))
            {
                health.Add($"{service.Service}: {await service.DescribeHealthAsync()}");
            }
            throw new TimeoutException(ex.Message + "\nhealth: " + string.Join(", ", health) + "\n" + Broker.DescribeQueues(VirtualHost), ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _ingestChannel?.Dispose();
        _retrievalChannel?.Dispose();
        foreach (var s in _extraEmbedders.AsEnumerable().Reverse().Concat(_services.Values.Reverse()))
        {
            await s.DisposeAsync();
        }
        Broker.DeleteVirtualHost(VirtualHost);
        _work.Dispose();
    }
}
