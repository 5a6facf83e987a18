using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Landmark.Contracts.Api.V1;
using Landmark.Testing;
using SkiaSharp;
using Xunit;

namespace Landmark.EndToEnd.Tests;

public sealed class PlatformLifecycleTests
{
    private static async Task<string> UploadAsync(EmbeddedPlatform platform, int seed, string landmark)
    {
        var response = await platform.Ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = $"{seed}.jpg", Role = ImageRole.Landmark, LandmarkId = landmark },
            Content = ByteString.CopyFrom(TestImages.Jpeg(320, 240, seed % 2 == 0 ? SKColors.Navy : SKColors.Gold, seed)),
        });
        return response.ImageId;
    }

    [Fact]
    public async Task State_survives_a_restart_on_the_same_data_directory()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-restart");
        string[] ids;
        await using (var platform = await EmbeddedPlatform.StartAsync(data.Path))
        {
            ids = [await UploadAsync(platform, 1, "a"), await UploadAsync(platform, 2, "b"), await UploadAsync(platform, 3, "a")];
            await platform.Ingest.UpsertLandmarksAsync(new UpsertLandmarksRequest { Landmarks = { new Contracts.Api.V1.Landmark { LandmarkId = "a", Name = "Alpha" } } });
            await platform.WaitForPipelineAsync(ids, TimeSpan.FromSeconds(60));
        }

        await using var restarted = await EmbeddedPlatform.StartAsync(data.Path);
        var records = await restarted.WaitForPipelineAsync(ids, TimeSpan.FromSeconds(30));
        Assert.All(records, r => Assert.Equal(ImageStatus.Indexed, r.Status));
        var stats = await restarted.Ingest.GetStatsAsync(new GetStatsRequest());
        Assert.Equal(3, stats.Indexed);
        var answer = await restarted.Recognition.RecognizeAsync(new RecognizeRequest
        {
            Image = ByteString.CopyFrom(TestImages.Jpeg(320, 240, SKColors.Gold, 3)),
        });
        Assert.Equal("a", answer.LandmarkId);
        Assert.Equal("Alpha", answer.LandmarkName);
        Assert.Equal(ids[2], answer.Neighbours[0].ImageId);
    }

    [Fact]
    public async Task A_second_platform_on_the_same_data_directory_fails_with_a_clear_message()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-lock");
        await using var first = await EmbeddedPlatform.StartAsync(data.Path);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => EmbeddedPlatform.StartAsync(data.Path));
        Assert.Contains("in use by another embedded platform", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grpc_health_protocol_reports_serving()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-health");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path);
        var health = new Health.HealthClient(platform.Channel);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HealthCheckResponse.Types.ServingStatus status;
        do
        {
            status = (await health.CheckAsync(new HealthCheckRequest())).Status;
            if (status == HealthCheckResponse.Types.ServingStatus.Serving)
            {
                break;
            }
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, status);
        var models = await platform.Models.ListModelsAsync(new ListModelsRequest());
        // A fresh platform starts with the pretrained ImageNet ResNet-18.
        Assert.Contains(models.Models, m => m.Live && m.Kind == ModelKind.Pretrained && m.Version.StartsWith("imagenet-resnet18-gem3-224-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Public_api_requires_a_valid_api_key_when_configured()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-auth");
        const string key = "0123456789abcdef-test-key";
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path, "--Landmark:Auth:Required=true", $"--Landmark:Auth:ApiKeys:0={key}");
        var missing = await Assert.ThrowsAsync<RpcException>(() => platform.Ingest.GetStatsAsync(new GetStatsRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => platform.Ingest.GetStatsAsync(new GetStatsRequest(),
            new Metadata { { "x-api-key", "wrong-key-wrong-key" } }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        var stats = await platform.Ingest.GetStatsAsync(new GetStatsRequest(), new Metadata { { "x-api-key", key } });
        Assert.Equal(0, stats.Total);
    }
}
