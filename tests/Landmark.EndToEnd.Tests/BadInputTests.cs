using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Testing;
using SkiaSharp;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>Bad input gets a clear gRPC status or a recorded rejection, never a crash, and loses nothing else.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-bad");
    private readonly TempDirectory _imports = TestPaths.CreateTempDirectory("landmark-bad-imports");
    private EmbeddedPlatform _platform = null!;

    public async Task InitializeAsync() =>
        _platform = await EmbeddedPlatform.StartAsync(_data.Path, $"--Landmark:Ingest:ImportRoots:0={_imports.Path}");

    public async Task DisposeAsync()
    {
        await _platform.DisposeAsync();
        _data.Dispose();
        _imports.Dispose();
    }

    private Task<UploadImageResponse> Upload(byte[] bytes, string name = "photo.jpg", string landmark = "1") =>
        _platform.Ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = name, Role = ImageRole.Landmark, LandmarkId = landmark },
            Content = ByteString.CopyFrom(bytes),
        }).ResponseAsync;

    /// <summary>The refusal as google.rpc.Status: the human message (<c>code: reason</c>), an ErrorInfo with the stable
    /// reason and the rejection code, a BadRequest naming the upload's content.</summary>
    private async Task AssertRefused(byte[] bytes, string code, string reason)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Upload(bytes));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(code + ":", error.Status.Detail, StringComparison.Ordinal);
        var info = ApiErrors.ErrorInfoOf(error);
        Assert.NotNull(info);
        Assert.Equal((reason, ApiErrors.Domain, code), (info.Reason, info.Domain, info.Metadata[ErrorReasons.RejectionCodeKey]));
        var violation = Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations);
        Assert.Equal("content", violation.Field);
        Assert.False(string.IsNullOrEmpty(violation.Description));
        Assert.Equal(error.Status.Detail, error.GetRpcStatus()!.Message);
    }

    [Fact]
    public Task Empty_file_is_refused_with_code_empty() => AssertRefused([], "empty", "IMAGE_EMPTY");

    [Fact]
    public Task Text_file_named_jpg_is_refused_as_unsupported_format() =>
        AssertRefused("this is not an image, just text\n"u8.ToArray(), "unsupported_format", "IMAGE_UNSUPPORTED_FORMAT");

    [Fact]
    public Task One_by_one_image_is_refused_as_too_small() =>
        AssertRefused(TestImages.Jpeg(1, 1, SKColors.Red), "too_small", "IMAGE_TOO_SMALL");

    [Fact]
    public Task Header_declaring_30000_by_30000_pixels_is_refused_as_too_large_without_decoding() =>
        AssertRefused(TestImages.PngBombHeader(30000, 30000), "too_large", "IMAGE_TOO_LARGE");

    [Fact]
    public async Task Truncated_jpeg_is_stored_then_rejected_with_a_recorded_reason()
    {
        var whole = TestImages.Jpeg(640, 480, SKColors.SkyBlue, seed: 7);
        var truncated = whole[..(whole.Length / 2)];
        var upload = await Upload(truncated, "half.jpg");
        var record = Assert.Single(await _platform.WaitForPipelineAsync([upload.ImageId], TimeSpan.FromSeconds(60)));
        Assert.Equal(ImageStatus.Rejected, record.Status);
        Assert.Equal("truncated", record.RejectionCode);
        Assert.Contains("preprocess", record.RejectionReason, StringComparison.Ordinal);

        // The platform still works for good images afterwards.
        var good = await Upload(whole, "whole.jpg");
        Assert.Equal(ImageStatus.Indexed, Assert.Single(await _platform.WaitForPipelineAsync([good.ImageId], TimeSpan.FromSeconds(60))).Status);
    }

    [Fact]
    public async Task Recognizing_a_corrupt_image_is_invalid_argument_with_the_reason()
    {
        // The embedder's refusal reaches the caller of the public API with its reason, naming the request's image field.
        var error = await Assert.ThrowsAsync<RpcException>(() => _platform.Recognition.RecognizeAsync(
            new RecognizeRequest { Image = ByteString.CopyFrom("GIF89a-broken-bytes-here"u8.ToArray()) }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var info = ApiErrors.ErrorInfoOf(error)!;
        Assert.StartsWith("IMAGE_", info.Reason, StringComparison.Ordinal);
        Assert.Equal(ErrorReasons.ForRejection(info.Metadata[ErrorReasons.RejectionCodeKey]), info.Reason);
        Assert.Equal("image", Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations).Field);
        var empty = await Assert.ThrowsAsync<RpcException>(() => _platform.Recognition.RecognizeAsync(new RecognizeRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal(ErrorReasons.ImageEmpty, ApiErrors.ErrorInfoOf(empty)!.Reason);
    }

    [Fact]
    public async Task Landmark_image_without_landmark_id_is_refused()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Upload(TestImages.Jpeg(64, 64, SKColors.Green), landmark: ""));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("landmark_id", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(ErrorReasons.ImageMetadataInvalid, ApiErrors.ErrorInfoOf(error)!.Reason);
        Assert.Equal("metadata", Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations).Field);
    }

    [Fact]
    public async Task Streaming_upload_assembles_chunks_and_requires_metadata_first()
    {
        var bytes = TestImages.Jpeg(800, 600, SKColors.Orange, seed: 3);
        using (var call = _platform.Ingest.UploadImageStream())
        {
            for (var offset = 0; offset < bytes.Length; offset += 4096)
            {
                var chunk = new UploadImageChunk { Data = ByteString.CopyFrom(bytes, offset, Math.Min(4096, bytes.Length - offset)) };
                if (offset == 0)
                {
                    chunk.Metadata = new ImageMetadata { FileName = "chunked.jpg", Role = ImageRole.NonLandmark };
                }
                await call.RequestStream.WriteAsync(chunk);
            }
            await call.RequestStream.CompleteAsync();
            var response = await call;
            Assert.False(response.Duplicate);
            Assert.Equal(bytes.Length, response.Record.SizeBytes);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), response.ImageId);
        }

        using var noMetadata = _platform.Ingest.UploadImageStream();
        await noMetadata.RequestStream.WriteAsync(new UploadImageChunk { Data = ByteString.CopyFrom(bytes, 0, 100) });
        await noMetadata.RequestStream.CompleteAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => noMetadata.ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task Unknown_landmark_ids_in_csv_are_reported_and_the_rest_is_imported()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_imports.Path, "csv")).FullName;
        File.WriteAllText(Path.Combine(dir, "landmarks.csv"), "landmark_id,name\n1,Tower\n");
        File.WriteAllText(Path.Combine(dir, "train.csv"), "id,landmark_id\naaa111,1\nbbb222,999\n");
        foreach (var (id, seed) in new[] { ("aaa111", 1), ("bbb222", 2) })
        {
            var path = Path.Combine(dir, "images", "train", id[..1], id[1..2], id[2..3], id + ".jpg");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, TestImages.Jpeg(128, 96, SKColors.Beige, seed));
        }
        using var call = _platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = dir });
        var updates = new List<ImportProgress>();
        await foreach (var p in call.ResponseStream.ReadAllAsync())
        {
            updates.Add(p);
        }
        var errors = updates.SelectMany(u => u.Errors).ToList();
        Assert.Contains(errors, e => e.Reason.Contains("unknown landmark id '999'", StringComparison.Ordinal));
        Assert.True(updates[^1].Done);
        Assert.Equal(1, updates[^1].Total);
        Assert.Equal(1, updates[^1].Indexed);
    }

    [Fact]
    public async Task Importing_a_missing_directory_is_invalid_argument()
    {
        using var call = _platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = Path.Combine(_imports.Path, "nope") });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(ErrorReasons.DatasetRefused, ApiErrors.ErrorInfoOf(error)!.Reason);
        Assert.Equal("path", Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations).Field);
    }

    [Fact]
    public async Task A_bad_page_token_is_invalid_argument_naming_the_field()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _platform.Ingest.ListLandmarksAsync(new ListLandmarksRequest { PageToken = "forged" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(ErrorReasons.PageTokenInvalid, ApiErrors.ErrorInfoOf(error)!.Reason);
        Assert.Equal("page_token", Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations).Field);
    }
}
