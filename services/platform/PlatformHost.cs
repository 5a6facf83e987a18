using System.Globalization;
using Landmark.Embedder;
using Landmark.Ingest;
using Landmark.Preprocess;
using Landmark.Retrieval;
using Landmark.Scorer;
using Landmark.ServiceDefaults;
using Landmark.Trainer;

namespace Landmark.Platform;

/// <summary>
/// The embedded mode: ingest, preprocess, trainer, embedder, retrieval and scorer in one process, wired by MassTransit's
/// in-memory transport, storing objects under <c>&lt;data&gt;/objects</c> and the vector index under
/// <c>&lt;data&gt;/index</c>, serving every gRPC API on one port (loopback by default). Internal gRPC calls go to the
/// process's own port, so the code path is the one of the distributed mode.
/// </summary>
public static class PlatformHost
{
    public const string DataDirectoryKey = "Landmark:DataDirectory";
    public const string DefaultDataDirectory = "data";
    public const int DefaultGrpcPort = 8080;
    private const string LockFileName = ".lock";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = LandmarkApplication.CreateBuilder(args);
        ApplyEmbeddedDefaults(builder.Configuration);
        configure?.Invoke(builder);

        var dataDirectory = Path.GetFullPath(builder.Configuration[DataDirectoryKey] ?? DefaultDataDirectory);
        Directory.CreateDirectory(dataDirectory);
        var dataLock = new DataDirectoryLock(AcquireLock(dataDirectory));
        try
        {
            return Compose(builder, dataLock, dataDirectory);
        }
        catch
        {
            dataLock.Dispose();
            throw;
        }
    }

    private static WebApplication Compose(WebApplicationBuilder builder, DataDirectoryLock dataLock, string dataDirectory)
    {
        // Registered through a factory so that the container disposes it (releasing the lock) when the host stops.
        builder.Services.AddSingleton(_ => dataLock);

        builder.AddServiceDefaults("platform");
        builder.AddIngest();
        builder.AddPreprocess();
        builder.AddTrainer();
        builder.AddEmbedder();
        builder.AddRetrieval();
        builder.AddScorer();
        builder.AddLandmarkMessaging(bus =>
        {
            IngestModule.AddConsumers(bus);
            PreprocessModule.AddConsumers(bus);
            TrainerModule.AddConsumers(bus);
            EmbedderModule.AddConsumers(bus);
            RetrievalModule.AddConsumers(bus);
        });

        var app = builder.Build();
        _ = app.Services.GetRequiredService<DataDirectoryLock>();
        app.MapDefaultEndpoints();
        app.MapIngest();
        app.MapTrainer();
        app.MapEmbedder();
        app.MapRetrieval();
        app.MapScorer();
        app.Logger.LogInformation("Embedded platform: data in {DataDirectory}", dataDirectory);
        return app;
    }

    /// <summary>Embedded-mode defaults, overridden by appsettings, environment variables and arguments.</summary>
    private static void ApplyEmbeddedDefaults(ConfigurationManager configuration)
    {
        var dataDirectory = configuration[DataDirectoryKey] ?? DefaultDataDirectory;
        var grpcPort = configuration.GetValue("Landmark:Hosting:GrpcPort", DefaultGrpcPort);
        // With TLS the internal calls verify the certificate like any client: it must name localhost.
        var self = string.IsNullOrWhiteSpace(configuration[$"{TlsOptions.SectionName}:{nameof(TlsOptions.CertificatePath)}"])
            ? string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{grpcPort}")
            : string.Create(CultureInfo.InvariantCulture, $"https://localhost:{grpcPort}");
        var defaults = new Dictionary<string, string?>
        {
            ["Landmark:Hosting:GrpcPort"] = grpcPort.ToString(CultureInfo.InvariantCulture),
            ["Landmark:Hosting:ListenOnAnyAddress"] = "false",
            ["Landmark:Messaging:Transport"] = nameof(MessagingTransport.InMemory),
            ["Landmark:Storage:Provider"] = "Local",
            ["Landmark:Storage:Local:Root"] = Path.Combine(dataDirectory, "objects"),
            ["Landmark:Index:Provider"] = "Embedded",
            ["Landmark:Index:Embedded:Path"] = Path.Combine(dataDirectory, "index"),
            ["Landmark:Endpoints:Ingest"] = self,
            ["Landmark:Endpoints:Embedder"] = self,
            ["Landmark:Endpoints:Retrieval"] = self,
            // Every caller of the internal services is this process: without a configured internal key, make one.
            ["Landmark:Auth:GenerateInternalKey"] = "true",
        };
        // Lowest precedence: every other source (appsettings, LANDMARK__ environment variables, arguments) wins.
        configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = defaults });
    }

    private static FileStream AcquireLock(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, LockFileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException(
                $"The data directory '{dataDirectory}' is in use by another embedded platform (a running 'make run'?). " +
                "Stop it, talk to it with --server, or choose another --data directory.", ex);
        }
    }
}

/// <summary>Holds the data directory's lock file open for the life of the process.</summary>
public sealed class DataDirectoryLock(FileStream stream) : IDisposable
{
    public void Dispose() => stream.Dispose();
}
