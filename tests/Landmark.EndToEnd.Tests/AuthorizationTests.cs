using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Internal.V1;
using Landmark.Testing;
using Microsoft.Extensions.Options;
using SkiaSharp;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>One embedded platform with <c>Landmark:Auth:Required</c> and a key of each kind.</summary>
public sealed class AuthorizedPlatformFixture : IAsyncLifetime
{
    public const string RecognizeKey = "recognize-only-key-0123456789";
    public const string IngestKey = "ingest-only-key-0123456789";
    public const string AdminKey = "admin-only-key-0123456789";
    public const string LegacyKey = "legacy-api-key-0123456789";
    public const string InternalKey = "internal-key-0123456789abcdef";

    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-authz");
    private readonly TempDirectory _imports = TestPaths.CreateTempDirectory("landmark-authz-imports");

    public EmbeddedPlatform Platform { get; private set; } = null!;
    public string ImportRoot => _imports.Path;

    public async Task InitializeAsync() =>
        Platform = await EmbeddedPlatform.StartAsync(_data.Path,
            "--Landmark:Auth:Required=true",
            $"--Landmark:Auth:Keys:0:Key={RecognizeKey}", "--Landmark:Auth:Keys:0:Scopes:0=recognize",
            $"--Landmark:Auth:Keys:1:Key={IngestKey}", "--Landmark:Auth:Keys:1:Scopes:0=ingest",
            $"--Landmark:Auth:Keys:2:Key={AdminKey}", "--Landmark:Auth:Keys:2:Scopes:0=admin",
            $"--Landmark:Auth:ApiKeys:0={LegacyKey}",
            $"--Landmark:Auth:InternalKeys:0={InternalKey}",
            $"--Landmark:Ingest:ImportRoots:0={_imports.Path}");

    public async Task DisposeAsync()
    {
        await Platform.DisposeAsync();
        _data.Dispose();
        _imports.Dispose();
    }
}

/// <summary>Deny by default over real sockets: every service, every casing of the path, scopes, internal services.</summary>
public sealed class AuthorizationTests(AuthorizedPlatformFixture fixture) : IClassFixture<AuthorizedPlatformFixture>
{
    private EmbeddedPlatform Platform => fixture.Platform;

    private static Metadata Key(string key) => new() { { "x-api-key", key } };

    /// <summary>A raw gRPC call (HTTP/2 with prior knowledge, one empty message) to an arbitrary path, so that the
    /// path's casing is exactly what is sent. Returns the grpc-status and the bytes of the answer's body.</summary>
    private async Task<(int? Status, int BodyBytes)> RawCallAsync(string path, string? key)
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post,
            string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Platform.Port}{path}"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(new byte[5]), // uncompressed, length 0: an empty protobuf message
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        }
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (null, body.Length); // not a gRPC answer at all (e.g. 404 from routing)
        }
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.Single()
            : response.Headers.TryGetValues("grpc-status", out var header) ? header.Single()
            : throw new InvalidOperationException($"{path}: no grpc-status");
        return (int.Parse(status, CultureInfo.InvariantCulture), body.Length);
    }

    [Theory]
    [InlineData("/landmark.v1.IngestService/GetStats")]
    [InlineData("/LANDMARK.V1.IngestService/GetStats")]
    [InlineData("/landmark.v1.ingestservice/getstats")]
    [InlineData("/Landmark.V1.INGESTSERVICE/GETSTATS")]
    public async Task Every_casing_of_a_public_path_needs_a_key(string path)
    {
        var anonymous = await RawCallAsync(path, null);
        Assert.Equal((int)StatusCode.Unauthenticated, anonymous.Status);
        Assert.Equal(0, anonymous.BodyBytes);
        Assert.Equal((int)StatusCode.Unauthenticated, (await RawCallAsync(path, "not-a-key-not-a-key")).Status);
        // The same path with a key reaches GetStats: routing did match it, so the refusal above was the guard's.
        var allowed = await RawCallAsync(path, AuthorizedPlatformFixture.IngestKey);
        Assert.Equal((int)StatusCode.OK, allowed.Status);
        Assert.True(allowed.BodyBytes >= 5);
        Assert.Equal((int)StatusCode.PermissionDenied, (await RawCallAsync(path, AuthorizedPlatformFixture.RecognizeKey)).Status);
    }

    [Theory]
    [InlineData("/LANDMARK.V1.IngestService/ImportDataset")]
    [InlineData("/landmark.v1.modelservice/ListModels")]
    [InlineData("/LANDMARK.INTERNAL.V1.RetrievalService/GetIndexStats")]
    [InlineData("/landmark.internal.v1.embedderservice/embed")]
    public async Task Mixed_case_paths_keep_the_scope_of_the_method_they_route_to(string path)
    {
        Assert.Equal((int)StatusCode.Unauthenticated, (await RawCallAsync(path, null)).Status);
        Assert.Equal((int)StatusCode.PermissionDenied, (await RawCallAsync(path, AuthorizedPlatformFixture.IngestKey)).Status);
    }

    [Theory]
    [InlineData("/landmark.v1.IngestService/DeleteEverything")]
    [InlineData("/LANDMARK.V1.IngestService/DeleteEverything")]
    [InlineData("/nope.v1.Nothing/Do")]
    [InlineData("/landmark.v1.IngestService")]
    public async Task Unknown_paths_never_answer_ok(string path)
    {
        foreach (var key in new string?[] { null, AuthorizedPlatformFixture.LegacyKey, AuthorizedPlatformFixture.InternalKey })
        {
            var (status, body) = await RawCallAsync(path, key);
            // UNIMPLEMENTED from gRPC's catch-all, or no gRPC route at all (HTTP 404): never a handler.
            Assert.True(status is null or (int)StatusCode.Unimplemented, $"{path} with key {key}: grpc-status {status}");
            Assert.Equal(0, body);
        }
    }

    public static TheoryData<string> Services => new()
    {
        "IngestService", "RecognitionService", "EvaluationService", "TrainingService", "ModelService", "EmbedderService", "RetrievalService",
    };

    /// <summary>One cheap call to each service, with the given headers.</summary>
    private Task CallAsync(string service, Metadata? headers) => service switch
    {
        "IngestService" => Platform.Ingest.GetStatsAsync(new GetStatsRequest(), headers).ResponseAsync,
        "RecognitionService" => Platform.Recognition.FindSimilarAsync(new FindSimilarRequest { ImageId = new string('0', 64) }, headers).ResponseAsync,
        "EvaluationService" => Platform.Evaluation.ComputeGapAsync(new ComputeGapRequest(), headers).ResponseAsync,
        "TrainingService" => new TrainingService.TrainingServiceClient(Platform.Channel).ListTrainingJobsAsync(new ListTrainingJobsRequest(), headers).ResponseAsync,
        "ModelService" => Platform.Models.ListModelsAsync(new ListModelsRequest(), headers).ResponseAsync,
        "EmbedderService" => new EmbedderService.EmbedderServiceClient(Platform.Channel).EmbedAsync(new EmbedRequest(), headers).ResponseAsync,
        "RetrievalService" => new RetrievalService.RetrievalServiceClient(Platform.Channel).GetIndexStatsAsync(new GetIndexStatsRequest(), headers).ResponseAsync,
        _ => throw new ArgumentOutOfRangeException(nameof(service)),
    };

    private async Task<StatusCode> StatusOfAsync(string service, Metadata? headers)
    {
        try
        {
            await CallAsync(service, headers);
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    [Fact]
    public async Task Refusals_carry_a_stable_reason_and_the_missing_scope_in_their_error_info()
    {
        var missing = await Assert.ThrowsAsync<RpcException>(() => CallAsync("IngestService", null));
        Assert.Equal((ErrorReasons.ApiKeyMissing, ApiErrors.Domain), (ApiErrors.ErrorInfoOf(missing)!.Reason, ApiErrors.ErrorInfoOf(missing)!.Domain));
        var wrong = await Assert.ThrowsAsync<RpcException>(() => CallAsync("IngestService", Key("wrong-key-wrong-key-wrong")));
        Assert.Equal(ErrorReasons.ApiKeyInvalid, ApiErrors.ErrorInfoOf(wrong)!.Reason);
        var scope = await Assert.ThrowsAsync<RpcException>(() => CallAsync("ModelService", Key(AuthorizedPlatformFixture.IngestKey)));
        Assert.Equal(StatusCode.PermissionDenied, scope.StatusCode);
        var info = ApiErrors.ErrorInfoOf(scope)!;
        Assert.Equal((ErrorReasons.ScopeMissing, "admin", "/landmark.v1.ModelService/ListModels"), (info.Reason, info.Metadata["scope"], info.Metadata["method"]));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_service_refuses_calls_without_a_valid_key(string service)
    {
        Assert.Equal(StatusCode.Unauthenticated, await StatusOfAsync(service, null));
        Assert.Equal(StatusCode.Unauthenticated, await StatusOfAsync(service, Key("wrong-key-wrong-key-wrong")));
        // A prefix of a real key is not that key.
        Assert.Equal(StatusCode.Unauthenticated, await StatusOfAsync(service, Key(AuthorizedPlatformFixture.InternalKey[..16])));
    }

    [Theory]
    [InlineData("IngestService", AuthorizedPlatformFixture.IngestKey)]
    [InlineData("RecognitionService", AuthorizedPlatformFixture.RecognizeKey)]
    [InlineData("EvaluationService", AuthorizedPlatformFixture.RecognizeKey)]
    [InlineData("TrainingService", AuthorizedPlatformFixture.AdminKey)]
    [InlineData("ModelService", AuthorizedPlatformFixture.AdminKey)]
    [InlineData("EmbedderService", AuthorizedPlatformFixture.InternalKey)]
    [InlineData("RetrievalService", AuthorizedPlatformFixture.InternalKey)]
    public async Task Each_service_admits_exactly_the_keys_with_its_scope(string service, string scopedKey)
    {
        string[] scoped = [AuthorizedPlatformFixture.RecognizeKey, AuthorizedPlatformFixture.IngestKey, AuthorizedPlatformFixture.AdminKey];
        foreach (var key in scoped)
        {
            var status = await StatusOfAsync(service, Key(key));
            if (key == scopedKey)
            {
                Assert.NotEqual(StatusCode.Unauthenticated, status);
                Assert.NotEqual(StatusCode.PermissionDenied, status);
            }
            else
            {
                Assert.Equal(StatusCode.PermissionDenied, status);
            }
        }
        var internalStatus = await StatusOfAsync(service, Key(AuthorizedPlatformFixture.InternalKey));
        Assert.NotEqual(StatusCode.Unauthenticated, internalStatus);
        Assert.NotEqual(StatusCode.PermissionDenied, internalStatus);
    }

    [Theory]
    [InlineData("IngestService")]
    [InlineData("RecognitionService")]
    [InlineData("EvaluationService")]
    [InlineData("TrainingService")]
    [InlineData("ModelService")]
    public async Task Older_api_keys_open_every_public_service(string service)
    {
        var status = await StatusOfAsync(service, Key(AuthorizedPlatformFixture.LegacyKey));
        Assert.NotEqual(StatusCode.Unauthenticated, status);
        Assert.NotEqual(StatusCode.PermissionDenied, status);
    }

    [Theory]
    [InlineData("EmbedderService")]
    [InlineData("RetrievalService")]
    public async Task Internal_services_refuse_every_public_key(string service)
    {
        foreach (var key in new[] { AuthorizedPlatformFixture.LegacyKey, AuthorizedPlatformFixture.AdminKey,
                     AuthorizedPlatformFixture.IngestKey, AuthorizedPlatformFixture.RecognizeKey })
        {
            Assert.Equal(StatusCode.PermissionDenied, await StatusOfAsync(service, Key(key)));
        }
        var stats = await new RetrievalService.RetrievalServiceClient(Platform.Channel)
            .GetIndexStatsAsync(new GetIndexStatsRequest(), Key(AuthorizedPlatformFixture.InternalKey));
        Assert.NotNull(stats);
    }

    [Fact]
    public async Task Server_side_import_needs_the_admin_scope()
    {
        var dataset = Directory.CreateDirectory(Path.Combine(fixture.ImportRoot, "scoped", "tower")).FullName;
        File.WriteAllBytes(Path.Combine(dataset, "a.jpg"), TestImages.Jpeg(128, 96, SKColors.Teal, 7));
        var request = new ImportDatasetRequest { Path = Path.GetDirectoryName(dataset)! };
        foreach (var key in new[] { AuthorizedPlatformFixture.IngestKey, AuthorizedPlatformFixture.RecognizeKey })
        {
            using var refused = Platform.Ingest.ImportDataset(request, Key(key));
            var error = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseStream.MoveNext());
            Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        }
        using var call = Platform.Ingest.ImportDataset(request, Key(AuthorizedPlatformFixture.AdminKey));
        ImportProgress? last = null;
        await foreach (var progress in call.ResponseStream.ReadAllAsync())
        {
            last = progress;
        }
        Assert.Equal(1, last!.Total);
    }

    [Fact]
    public async Task Uploads_need_the_ingest_scope_and_recognition_runs_through_the_internal_services_with_the_internal_key()
    {
        var upload = new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "tower.jpg", Role = ImageRole.Landmark, LandmarkId = "tower" },
            Content = ByteString.CopyFrom(TestImages.Jpeg(320, 240, SKColors.Crimson, 11)),
        };
        var refused = await Assert.ThrowsAsync<RpcException>(() => Platform.Ingest.UploadImageAsync(upload, Key(AuthorizedPlatformFixture.RecognizeKey)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var stored = await Platform.Ingest.UploadImageAsync(upload, Key(AuthorizedPlatformFixture.IngestKey));
        await Pipeline.WaitAsync(Platform.Ingest, [stored.ImageId], TimeSpan.FromSeconds(60), headers: Key(AuthorizedPlatformFixture.IngestKey));
        // The scorer calls the embedder, retrieval and ingest over gRPC with the internal key.
        var answer = await Platform.Recognition.RecognizeAsync(new RecognizeRequest { Image = upload.Content }, Key(AuthorizedPlatformFixture.RecognizeKey));
        Assert.Equal(stored.ImageId, answer.Neighbours[0].ImageId);
    }

    [Fact]
    public async Task Health_answers_without_a_key_and_reflection_needs_one_outside_development()
    {
        var health = await new Health.HealthClient(Platform.Channel).CheckAsync(new HealthCheckRequest());
        Assert.NotEqual(HealthCheckResponse.Types.ServingStatus.Unknown, health.Status);
        var reflection = new ServerReflection.ServerReflectionClient(Platform.Channel);
        Assert.Equal(StatusCode.Unauthenticated, await ListServicesStatusAsync(reflection, null));
        Assert.Equal(StatusCode.OK, await ListServicesStatusAsync(reflection, Key(AuthorizedPlatformFixture.RecognizeKey)));
    }

    internal static async Task<StatusCode> ListServicesStatusAsync(ServerReflection.ServerReflectionClient reflection, Metadata? headers)
    {
        try
        {
            using var call = reflection.ServerReflectionInfo(headers);
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
            await call.RequestStream.CompleteAsync();
            var services = new List<string>();
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                services.AddRange(response.ListServicesResponse.Service.Select(s => s.Name));
            }
            Assert.Contains("landmark.v1.IngestService", services);
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }
}

/// <summary>Start-up refusals and settings that need a platform of their own.</summary>
public sealed class AuthorizationStartupTests
{
    private const string Key = "0123456789abcdef-test-key";

    [Fact]
    public async Task Reflection_opens_without_a_key_when_configured()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-reflection");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path, "--Landmark:Auth:Required=true",
            $"--Landmark:Auth:ApiKeys:0={Key}", "--Landmark:Auth:AllowReflectionWithoutKey=true");
        var reflection = new ServerReflection.ServerReflectionClient(platform.Channel);
        Assert.Equal(StatusCode.OK, await AuthorizationTests.ListServicesStatusAsync(reflection, null));
        var error = await Assert.ThrowsAsync<RpcException>(() => platform.Ingest.GetStatsAsync(new GetStatsRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task The_embedded_platform_generates_its_internal_key_and_never_accepts_a_public_one_for_internal_services()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-generated-key");
        await using var platform = await EmbeddedPlatform.StartAsync(data.Path, "--Landmark:Auth:Required=true", $"--Landmark:Auth:ApiKeys:0={Key}");
        var headers = new Metadata { { "x-api-key", Key } };
        var upload = await platform.Ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "a.jpg", Role = ImageRole.Landmark, LandmarkId = "a" },
            Content = ByteString.CopyFrom(TestImages.Jpeg(320, 240, SKColors.Olive, 5)),
        }, headers);
        await Pipeline.WaitAsync(platform.Ingest, [upload.ImageId], TimeSpan.FromSeconds(60), headers: headers);
        var answer = await platform.Recognition.RecognizeAsync(new RecognizeRequest
        {
            Image = ByteString.CopyFrom(TestImages.Jpeg(320, 240, SKColors.Olive, 5)),
        }, headers);
        Assert.Equal(upload.ImageId, answer.Neighbours[0].ImageId);
        var error = await Assert.ThrowsAsync<RpcException>(() => new RetrievalService.RetrievalServiceClient(platform.Channel)
            .GetIndexStatsAsync(new GetIndexStatsRequest(), headers).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task A_short_key_beside_a_long_one_stops_start_up()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-short-key");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => EmbeddedPlatform.StartAsync(data.Path,
            "--Landmark:Auth:Required=true", $"--Landmark:Auth:ApiKeys:0={Key}", "--Landmark:Auth:ApiKeys:1=short"));
        Assert.Contains("Landmark:Auth:ApiKeys:1 is shorter than 16 characters", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Landmark:Auth:ApiKeys:0=change-me-api-key-0000")]
    [InlineData("--Landmark:Messaging:RabbitMq:Password=change-me-rabbitmq")]
    [InlineData("--Landmark:Storage:S3:SecretKey=change-me-minio-secret")]
    public async Task Placeholder_credentials_stop_start_up_outside_development(string setting)
    {
        using var data = TestPaths.CreateTempDirectory("landmark-placeholder");
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => EmbeddedPlatform.StartAsync(data.Path, setting));
        Assert.Contains("placeholder credential", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(setting.Split('=')[1], error.Message, StringComparison.Ordinal);
        await using var development = await EmbeddedPlatform.StartAsync(data.Path, setting, "--environment=Development");
        Assert.NotNull(await development.Ingest.GetStatsAsync(new GetStatsRequest()));
    }
}
