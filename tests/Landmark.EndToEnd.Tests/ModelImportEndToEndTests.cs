using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Onnx;
using Landmark.Onnx.Proto;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.EndToEnd.Tests;

/// <summary>Importing a user's ONNX model through the client-streaming <c>ImportModel</c> RPC on the embedded platform,
/// over a real socket, then rolling it out with <c>PublishModel</c>.</summary>
public sealed class ModelImportEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task An_imported_batch_1_model_is_rewritten_listed_as_imported_published_and_answers_recognition()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-import");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var ids = new List<string>();
        foreach (var image in dataset.Train.Take(10))
        {
            ids.Add(await Pipeline.UploadAsync(platform.Ingest, image));
        }
        foreach (var image in dataset.NonLandmarks.Take(3))
        {
            ids.Add(await Pipeline.UploadAsync(platform.Ingest, image, ImageRole.NonLandmark));
        }
        Assert.All(await platform.WaitForPipelineAsync(ids, Timeout), r => Assert.Equal(ImageStatus.Indexed, r.Status));
        var baseline = (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version;

        // A real embedding graph exported with a fixed batch of 1, as many exporters write them.
        var onnx = FixedBatchOfOne(BaselineModel.Build(new BaselineOptions { InputSize = 96, Grids = [1, 2] }).OnnxBytes);
        var header = new ImportModelHeader { Name = "My Model", Mean = { 0.5f, 0.5f, 0.5f }, Std = { 0.5f, 0.5f, 0.5f }, Description = "a user's model" };
        var imported = await ImportAsync(platform.Models, header, onnx);
        output.WriteLine(string.Join(Environment.NewLine, imported.Checks));

        var version = imported.Model.Version;
        Assert.Matches("^imported-my-model-[0-9a-f]{12}$", version);
        Assert.False(imported.AlreadyRegistered);
        Assert.Equal((ModelKind.Imported, 96, false, "a user's model"), (imported.Model.Kind, imported.Model.InputSize, imported.Model.Live, imported.Model.Description));
        Assert.Contains(imported.Checks, c => c.StartsWith("batch dimension fixed at 1: made variable (N)", StringComparison.Ordinal));
        Assert.Contains(imported.Checks, c => c.StartsWith("a batch of 2:", StringComparison.Ordinal));
        var listed = Assert.Single((await platform.Models.ListModelsAsync(new ListModelsRequest())).Models, m => m.Version == version);
        Assert.Equal(ModelKind.Imported, listed.Kind);
        Assert.Equal([0.5f, 0.5f, 0.5f], listed.Mean);
        Assert.Equal([0.5f, 0.5f, 0.5f], listed.Std);
        Assert.True(listed.Dimension > 0);

        // The same file with the same settings is the same version; nothing new is registered.
        var again = await ImportAsync(platform.Models, header, onnx, chunkBytes: 7_000);
        Assert.Equal(version, again.Model.Version);
        Assert.True(again.AlreadyRegistered);
        Assert.Equal(2, (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Count);

        // Published as any other model: the gallery is re-embedded with it, then it answers.
        var rollout = await platform.Models.PublishModelAsync(new PublishModelRequest { Version = version });
        Assert.Equal(baseline, rollout.LiveVersion);
        await WaitAsync(async () => await platform.Models.GetRolloutAsync(new GetRolloutRequest()) is { State: RolloutStatus.Types.State.Live } s && s.LiveVersion == version,
            $"the roll-out of {version}");
        var query = ByteString.CopyFrom(await File.ReadAllBytesAsync(dataset.ReadSplit("val").Queries[0].Path));
        RecognizeResponse answer = new();
        await WaitAsync(async () => (answer = await platform.Recognition.RecognizeAsync(new RecognizeRequest { Image = query, TopK = 5 })).ModelVersion == version,
            "recognition answering with the imported model");
        Assert.Equal(5, answer.Neighbours.Count);
        Assert.All(answer.Neighbours, n => Assert.InRange(n.Similarity, -1.0001f, 1.0001f));
        Assert.Equal(version, (await platform.Models.GetLiveModelAsync(new GetLiveModelRequest())).Version);
    }

    [Fact]
    public async Task Models_that_fail_the_checks_or_break_the_stream_protocol_are_invalid_argument_and_nothing_is_registered()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-import-invalid");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        await WaitAsync(async () => (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Any(m => m.Live), "the baseline model");
        var before = (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Count;

        // Sqrt of a negative number: NaN on every image.
        var b = new OnnxGraphBuilder("nan");
        var x = b.Input("images", null, 3, 32, 32);
        b.Output(b.Flatten(b.GlobalAveragePool(b.Sqrt(b.Sub(x, b.Scalar(2f))))), "embedding", null, 3);
        var nan = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(platform.Models, new ImportModelHeader { Name = "nan" }, b.ToBytes()));
        Assert.Equal(StatusCode.InvalidArgument, nan.StatusCode);
        Assert.StartsWith("output 'embedding' is not finite on a probe image", nan.Status.Detail, StringComparison.Ordinal);

        var garbage = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(platform.Models, new ImportModelHeader(), "GIF89a not a model"u8.ToArray()));
        Assert.Equal(StatusCode.InvalidArgument, garbage.StatusCode);
        Assert.StartsWith("the file is not an ONNX model", garbage.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(ErrorReasons.ModelInvalid, ApiErrors.ErrorInfoOf(garbage)!.Reason);

        var badStd = await Assert.ThrowsAsync<RpcException>(() =>
            ImportAsync(platform.Models, new ImportModelHeader { Std = { 0.2f, -1f, 0.2f } }, BaselineModel.Build().OnnxBytes));
        Assert.Equal(StatusCode.InvalidArgument, badStd.StatusCode);
        Assert.Equal("std 0.2,-1,0.2: every value must be finite and greater than 0.", badStd.Status.Detail);

        using (var chunkFirst = platform.Models.ImportModel())
        {
            await chunkFirst.RequestStream.WriteAsync(new ImportModelRequest { Chunk = ByteString.CopyFrom(1, 2, 3) });
            await CompleteQuietlyAsync(chunkFirst);
            var error = await Assert.ThrowsAsync<RpcException>(() => chunkFirst.ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("first message must carry the header", error.Status.Detail, StringComparison.Ordinal);
        }
        var headerOnly = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(platform.Models, new ImportModelHeader { Name = "empty" }, []));
        Assert.Equal(StatusCode.InvalidArgument, headerOnly.StatusCode);
        Assert.StartsWith("no model bytes", headerOnly.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(before, (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Count);
    }

    [Fact]
    public async Task A_model_larger_than_the_configured_import_limit_is_refused_while_it_streams_in()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-import-limit");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path, "--Landmark:ModelImport:MaxBytes=100000");
        var model = ModelProto.Parser.ParseFrom(BaselineModel.Build().OnnxBytes);
        model.DocString = new string('x', 300_000);

        var error = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(platform.Models, new ImportModelHeader { Name = "big" }, model.ToByteArray()));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal((ErrorReasons.ModelTooLarge, "100000"), (ApiErrors.ErrorInfoOf(error)!.Reason, ApiErrors.ErrorInfoOf(error)!.Metadata["max_bytes"]));
        Assert.Equal("the model is larger than the import limit of 100000 bytes (Landmark:ModelImport:MaxBytes).", error.Status.Detail);
    }

    [Fact]
    public async Task A_model_larger_than_the_64_MiB_request_limit_for_images_streams_in_and_registers()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-import-large");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        var model = ModelProto.Parser.ParseFrom(BaselineModel.Build(new BaselineOptions { InputSize = 64, Grids = [1] }).OnnxBytes);
        model.DocString = new string('x', 70 << 20); // ignored by ONNX Runtime; the file is 70 MiB
        var onnx = model.ToByteArray();
        Assert.True(onnx.Length > 64 << 20);

        var imported = await ImportAsync(platform.Models, new ImportModelHeader { Name = "large" }, onnx);
        Assert.False(imported.AlreadyRegistered);
        Assert.Equal(ModelKind.Imported, imported.Model.Kind);
        Assert.Contains(imported.Model.Version, (await platform.Models.ListModelsAsync(new ListModelsRequest())).Models.Select(m => m.Version));
    }

    /// <summary>Streams a header and the model's bytes in chunks, as <c>landmark models import</c> does.</summary>
    private static async Task<ImportModelResponse> ImportAsync(ModelService.ModelServiceClient models, ImportModelHeader header, byte[] onnx, int chunkBytes = 1 << 20)
    {
        using var call = models.ImportModel();
        try
        {
            await call.RequestStream.WriteAsync(new ImportModelRequest { Header = header });
            for (var offset = 0; offset < onnx.Length; offset += chunkBytes)
            {
                await call.RequestStream.WriteAsync(new ImportModelRequest { Chunk = ByteString.CopyFrom(onnx, offset, Math.Min(chunkBytes, onnx.Length - offset)) });
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException)
        {
            // The server ended the call while the bytes were still streaming: its status is in the response.
        }
        return await call.ResponseAsync;
    }

    private static async Task CompleteQuietlyAsync(AsyncClientStreamingCall<ImportModelRequest, ImportModelResponse> call)
    {
        try
        {
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException)
        {
            // Already ended by the server.
        }
    }

    /// <summary>The graph with its input and output batch fixed at 1.</summary>
    private static byte[] FixedBatchOfOne(byte[] onnx)
    {
        var model = ModelProto.Parser.ParseFrom(onnx);
        model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimValue = 1;
        model.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimValue = 1;
        return model.ToByteArray();
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }
            await Task.Delay(100);
        }
    }
}
