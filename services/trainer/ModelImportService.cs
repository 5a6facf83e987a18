using System.ComponentModel.DataAnnotations;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Embedding;
using Landmark.Onnx;
using Microsoft.Extensions.Options;

namespace Landmark.Trainer;

/// <summary>Limits of <c>ModelService.ImportModel</c>. Bound from <c>Landmark:ModelImport</c>.</summary>
public sealed class ModelImportOptions
{
    public const string SectionName = "Landmark:ModelImport";

    /// <summary>Largest .onnx file accepted (ONNX's protobuf encoding stops at 2 GB).</summary>
    [Range(1024L, 2_000_000_000L)]
    public long MaxBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>ONNX Runtime threads for the probe runs of the checks.</summary>
    [Range(1, 64)]
    public int ProbeThreads { get; set; } = 1;

    /// <summary>Where uploads are spooled while they arrive (empty = the system temp directory).</summary>
    public string TempDirectory { get; set; } = "";
}

/// <summary>
/// <c>ModelService.ImportModel</c>: spools the streamed .onnx file to a temp file (refusing it as soon as it passes
/// <see cref="ModelImportOptions.MaxBytes"/>), checks it with <see cref="ModelImport"/> (one import at a time: the
/// checks hold the model in memory several times over) and registers it with kind <c>imported</c>.
/// </summary>
public sealed class ModelImportService(ModelRegistry registry, IOptions<ModelImportOptions> options, ILogger<ModelImportService> logger) : IDisposable
{
    private const int CopyBufferBytes = 1 << 20;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public async Task<ImportModelResponse> ImportAsync(IAsyncStreamReader<ImportModelRequest> requests, ServerCallContext context)
    {
        var limits = options.Value;
        var cancellationToken = context.CancellationToken;
        // gRPC lifts Kestrel's request body limit (Landmark:Hosting:MaxReceiveMessageBytes, meant for one image) for
        // client-streaming calls; MaxBytes caps this one, counted as the chunks arrive.
        if (!await requests.MoveNext(cancellationToken))
        {
            throw Invalid("no messages: the first one must carry the header, the following ones the model's bytes.");
        }
        if (requests.Current.PartCase != ImportModelRequest.PartOneofCase.Header)
        {
            throw Invalid("the first message must carry the header (name, input_size, mean, std, description), not model bytes.");
        }
        var header = requests.Current.Header;
        var settings = new ModelImportSettings
        {
            Name = header.Name,
            InputSize = header.InputSize,
            Mean = header.Mean.ToArray(),
            Std = header.Std.ToArray(),
            Description = header.Description,
        };
        // Refuse bad settings before the bytes travel.
        try
        {
            OnnxModelImporter.ValidateSettings(settings);
        }
        catch (ModelImportException ex)
        {
            throw Invalid(ex.Message);
        }

        var onnx = await ReceiveAsync(requests, limits, cancellationToken);
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            ImportedModel imported;
            try
            {
                imported = await Task.Run(() => ModelImport.Check(onnx, settings, limits.ProbeThreads, cancellationToken), cancellationToken);
            }
            catch (ModelImportException ex)
            {
                logger.LogWarning("Model import refused ({Bytes} bytes, name '{Name}'): {Reason}", onnx.Length, settings.Name, ex.Message);
                throw Invalid(ex.Message);
            }
            var manifest = imported.Artifact.Manifest;
            var existing = await registry.GetAsync(manifest.Version, cancellationToken);
            var registered = existing ?? await registry.RegisterAsync(imported.Artifact.OnnxBytes, manifest, cancellationToken);
            logger.LogInformation("Model import of {Bytes} bytes: {Version} {Outcome}; {Checks}", onnx.Length, registered.Version,
                existing is null ? "registered" : "was registered before", string.Join("; ", imported.Checks));
            var response = new ImportModelResponse
            {
                Model = ModelApi.ToProto(registered, registered.Version == await registry.GetLiveVersionAsync(cancellationToken)),
                AlreadyRegistered = existing is not null,
            };
            response.Checks.AddRange(imported.Checks);
            return response;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>The chunks after the header, spooled to a temp file (deleted on close) and read back in one array.</summary>
    private async Task<byte[]> ReceiveAsync(IAsyncStreamReader<ImportModelRequest> requests, ModelImportOptions limits, CancellationToken cancellationToken)
    {
        var directory = limits.TempDirectory.Length > 0 ? limits.TempDirectory : Path.GetTempPath();
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"landmark-import-{Guid.NewGuid():N}.onnx");
        await using var spool = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, CopyBufferBytes,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        long total = 0;
        while (await requests.MoveNext(cancellationToken))
        {
            var message = requests.Current;
            switch (message.PartCase)
            {
                case ImportModelRequest.PartOneofCase.Chunk:
                    total += message.Chunk.Length;
                    if (total > limits.MaxBytes)
                    {
                        throw ApiErrors.Create(StatusCode.ResourceExhausted, ErrorReasons.ModelTooLarge,
                            $"the model is larger than the import limit of {limits.MaxBytes} bytes ({ModelImportOptions.SectionName}:MaxBytes).",
                            new Dictionary<string, string> { ["max_bytes"] = limits.MaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    }
                    await spool.WriteAsync(message.Chunk.Memory, cancellationToken);
                    break;
                case ImportModelRequest.PartOneofCase.Header:
                    throw Invalid("a second header: only the first message carries one, the following ones carry model bytes.");
                default:
                    throw Invalid("a message with neither header nor chunk.");
            }
        }
        if (total == 0)
        {
            throw Invalid("no model bytes: the header must be followed by messages carrying the .onnx file.");
        }
        var onnx = new byte[total];
        spool.Position = 0;
        await spool.ReadExactlyAsync(onnx, cancellationToken);
        return onnx;
    }

    /// <summary>The model (or the import's messages) cannot be registered: reason MODEL_INVALID.</summary>
    private static RpcException Invalid(string message) =>
        ApiErrors.Create(StatusCode.InvalidArgument, ErrorReasons.ModelInvalid, message, violations: ("chunk", message));

    public void Dispose() => _oneAtATime.Dispose();
}
