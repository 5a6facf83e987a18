using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;

namespace Landmark.EndToEnd.Tests;

/// <summary>The JSON/HTTP face (gRPC JSON transcoding of the google.api.http routes) over real HTTP/1.1 on the
/// embedded platform's HTTP port, with plain <see cref="HttpClient"/>: what an upstream system without gRPC does.</summary>
public sealed class JsonHttpApiTests
{
    private static async Task<(EmbeddedPlatform Platform, HttpClient Http)> StartAsync(TempDirectory data, params string[] extra)
    {
        var httpPort = TestPaths.FreeTcpPort();
        var platform = await EmbeddedPlatform.StartAsync(data.Path,
            [string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:HttpPort={httpPort}"), .. extra]);
        var http = new HttpClient
        {
            BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{httpPort}")),
            DefaultRequestVersion = HttpVersion.Version11,
            Timeout = TimeSpan.FromMinutes(2),
        };
        return (platform, http);
    }

    /// <summary>Waits until <c>/readyz</c> answers 200 (the embedding model loaded): on a busy machine the first
    /// recognition would otherwise spend its internal deadline waiting for the model.</summary>
    private static async Task WaitReadyAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            using var response = await http.GetAsync("/readyz");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"/readyz still answers {(int)response.StatusCode} after 3 minutes");
            await Task.Delay(250);
        }
    }

    private static async Task<JsonNode> JsonAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {response.StatusCode}: {body}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return JsonNode.Parse(body)!;
    }

    private static JsonObject Upload(DatasetImage image, string role = "IMAGE_ROLE_LANDMARK") => new()
    {
        ["metadata"] = new JsonObject
        {
            ["fileName"] = Path.GetFileName(image.Path),
            ["role"] = role,
            ["landmarkId"] = image.LandmarkId ?? "",
            ["externalId"] = image.Id,
        },
        ["content"] = Convert.ToBase64String(File.ReadAllBytes(image.Path)),
    };

    [Fact]
    public async Task Upload_recognize_stats_and_models_work_as_json_over_http()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var classes = dataset.Train.GroupBy(i => i.LandmarkId!).OrderBy(g => g.Key, StringComparer.Ordinal).Take(2).ToList();
        using var data = TestPaths.CreateTempDirectory("landmark-json");
        var (platform, http) = await StartAsync(data);
        await using var _ = platform;
        using var __ = http;
        await WaitReadyAsync(http);

        // Landmark names, then gallery uploads as JSON (bytes as base64, enums by name), then the pipeline state through GET
        // with repeated query parameters.
        var upsert = await JsonAsync(await http.PostAsJsonAsync("/v1/landmarks", new JsonObject
        {
            ["landmarks"] = new JsonArray(classes.Select(g => (JsonNode)new JsonObject { ["landmarkId"] = g.Key, ["name"] = dataset.Landmarks[g.Key] }).ToArray()),
        }));
        Assert.Equal(2, upsert["count"]!.GetValue<int>());
        var ids = new List<string>();
        foreach (var image in classes.SelectMany(g => g.Take(4)))
        {
            var uploaded = await JsonAsync(await http.PostAsJsonAsync("/v1/images", Upload(image)));
            ids.Add(uploaded["imageId"]!.GetValue<string>());
        }
        var deadline = DateTime.UtcNow.AddMinutes(2);
        JsonArray records;
        do
        {
            await Task.Delay(200);
            var query = string.Join("&", ids.Select(id => "imageIds=" + id));
            records = (await JsonAsync(await http.GetAsync("/v1/images:batchGet?" + query)))["records"]!.AsArray();
        }
        while (records.Any(r => r!["status"]?.GetValue<string>() is not ("IMAGE_STATUS_INDEXED" or "IMAGE_STATUS_REJECTED")) && DateTime.UtcNow < deadline);
        Assert.Equal(ids.Count, records.Count);
        Assert.All(records, r => Assert.Equal("IMAGE_STATUS_INDEXED", r!["status"]!.GetValue<string>()));

        // Recognize a photo of the first landmark that is not in the gallery.
        var photo = classes[0].Skip(4).First();
        var answer = await JsonAsync(await http.PostAsJsonAsync("/v1/recognize", new JsonObject
        {
            ["image"] = Convert.ToBase64String(await File.ReadAllBytesAsync(photo.Path)),
            ["requestId"] = "json-1",
            ["topK"] = 3,
        }));
        Assert.Equal("json-1", answer["requestId"]!.GetValue<string>());
        Assert.Equal(classes[0].Key, answer["landmarkId"]!.GetValue<string>());
        Assert.Equal(dataset.Landmarks[classes[0].Key], answer["landmarkName"]!.GetValue<string>());
        Assert.InRange(answer["confidence"]!.GetValue<double>(), 0, 1);
        Assert.Equal(3, answer["neighbours"]!.AsArray().Count);
        Assert.False(string.IsNullOrEmpty(answer["modelVersion"]?.GetValue<string>()));

        var stats = await JsonAsync(await http.GetAsync("/v1/stats"));
        Assert.Equal(8, stats["total"]!.GetValue<int>());
        Assert.Equal(8, stats["indexed"]!.GetValue<int>());
        Assert.Equal(8, stats["landmarkImages"]!.GetValue<int>());
        Assert.Equal(2, stats["landmarks"]!.GetValue<int>());

        // ListImages pages: three a page, each page's token fetches the next, the last page has none; every image once,
        // in id order. A made-up token or one replayed with other filters is 400 (INVALID_ARGUMENT).
        var listed = new List<string>();
        var pages = 0;
        var token = "";
        do
        {
            var page = await JsonAsync(await http.GetAsync("/v1/images?status=IMAGE_STATUS_INDEXED&pageSize=3" +
                (token.Length > 0 ? "&pageToken=" + Uri.EscapeDataString(token) : "")));
            listed.AddRange(page["images"]!.AsArray().Select(i => i!["imageId"]!.GetValue<string>()));
            token = page["nextPageToken"]?.GetValue<string>() ?? "";
            pages++;
        }
        while (token.Length > 0);
        Assert.Equal(ids.Order(StringComparer.Ordinal), listed);
        Assert.Equal(3, pages);
        var secondPage = (await JsonAsync(await http.GetAsync("/v1/images?status=IMAGE_STATUS_INDEXED&pageSize=3")))["nextPageToken"]!.GetValue<string>();
        foreach (var query in new[] { "pageToken=not-a-token", "status=IMAGE_STATUS_REJECTED&pageToken=" + Uri.EscapeDataString(secondPage), "pageSize=-1" })
        {
            using var refused = await http.GetAsync("/v1/images?" + query);
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)refused.StatusCode} {await refused.Content.ReadAsStringAsync()}");
        }

        // States are enum names and times RFC 3339 timestamps.
        var models = (await JsonAsync(await http.GetAsync("/v1/models")))["models"]!.AsArray();
        Assert.Single(models, m => m!["live"]?.GetValue<bool>() == true);
        Assert.All(models, m => Assert.InRange(DateTimeOffset.Parse(m!["createTime"]!.GetValue<string>(), CultureInfo.InvariantCulture),
            DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1)));
        var rollout = await JsonAsync(await http.GetAsync("/v1/rollout"));
        Assert.Contains(rollout["state"]!.GetValue<string>(), new[] { "NONE", "PENDING", "REINDEXING", "LIVE" });
        var live = await JsonAsync(await http.GetAsync("/v1/models:live"));
        Assert.Equal(answer["modelVersion"]!.GetValue<string>(), live["version"]!.GetValue<string>());

        // Errors keep their gRPC meaning: a bad image is 400 with the reason in a google.rpc.Status-shaped body.
        using var bad = await http.PostAsJsonAsync("/v1/recognize", new JsonObject { ["image"] = Convert.ToBase64String("not an image"u8.ToArray()) });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var error = JsonNode.Parse(await bad.Content.ReadAsStringAsync())!;
        Assert.Equal(3, error["code"]!.GetValue<int>()); // INVALID_ARGUMENT
        Assert.False(string.IsNullOrEmpty(error["message"]?.GetValue<string>()));
        var details = error["details"]!.AsArray();
        var info = Assert.Single(details, d => d!["@type"]!.GetValue<string>() == "type.googleapis.com/google.rpc.ErrorInfo")!;
        Assert.StartsWith("IMAGE_", info["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("landmark.v1", info["domain"]!.GetValue<string>());
        var badRequest = Assert.Single(details, d => d!["@type"]!.GetValue<string>() == "type.googleapis.com/google.rpc.BadRequest")!;
        Assert.Equal("image", badRequest["fieldViolations"]![0]!["field"]!.GetValue<string>());

        // Client-streaming RPCs stay gRPC-only.
        using var streaming = await http.PostAsync("/v1/images:stream", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.NotFound, streaming.StatusCode);
    }

    [Fact]
    public async Task The_openapi_document_describes_the_json_routes()
    {
        using var data = TestPaths.CreateTempDirectory("landmark-openapi");
        var (platform, http) = await StartAsync(data);
        await using var _ = platform;
        using var __ = http;
        var document = await JsonAsync(await http.GetAsync("/openapi/v1.json"));
        var paths = document["paths"]!.AsObject();
        foreach (var path in new[] { "/v1/recognize", "/v1/stats", "/v1/models", "/v1/images", "/v1/landmarks" })
        {
            Assert.True(paths.ContainsKey(path), $"{path} is not in the OpenAPI document: {string.Join(", ", paths.Select(p => p.Key))}");
        }
        Assert.NotNull(paths["/v1/recognize"]!["post"]);
        Assert.NotNull(paths["/v1/stats"]!["get"]);
        // ListImages is a paged GET beside the upload's POST.
        Assert.NotNull(paths["/v1/images"]!["get"]);
        Assert.NotNull(paths["/v1/images"]!["post"]);
        Assert.Contains("pageToken", paths["/v1/images"]!["get"]!.ToJsonString(), StringComparison.Ordinal);
        // The proto comments describe the operations; the API key is declared as the security scheme.
        Assert.Contains("Which landmark does this photo show", paths["/v1/recognize"]!["post"]!.ToJsonString(), StringComparison.Ordinal);
        var scheme = document["components"]!["securitySchemes"]!["apiKey"]!;
        Assert.Equal("header", scheme["in"]!.GetValue<string>());
        Assert.Equal("x-api-key", scheme["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task With_auth_required_http_calls_need_a_key_with_the_methods_scope()
    {
        const string recognizeKey = "json-recognize-key-0123456789";
        const string ingestKey = "json-ingest-key-0123456789";
        using var data = TestPaths.CreateTempDirectory("landmark-json-auth");
        var (platform, http) = await StartAsync(data,
            "--Landmark:Auth:Required=true",
            $"--Landmark:Auth:Keys:0:Key={recognizeKey}", "--Landmark:Auth:Keys:0:Scopes:0=recognize",
            $"--Landmark:Auth:Keys:1:Key={ingestKey}", "--Landmark:Auth:Keys:1:Scopes:0=ingest");
        await using var _ = platform;
        using var __ = http;
        await WaitReadyAsync(http);
        var photo = DatasetReader.Read(TestPaths.RequireLandmarksMini()).Train[0];
        var recognize = new JsonObject { ["image"] = Convert.ToBase64String(await File.ReadAllBytesAsync(photo.Path)) };

        async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? key, JsonObject? body = null)
        {
            var request = new HttpRequestMessage(method, path);
            if (body is not null)
            {
                request.Content = JsonContent.Create(body);
            }
            if (key is not null)
            {
                request.Headers.Add("x-api-key", key);
            }
            return await http.SendAsync(request);
        }

        // No key, a wrong key, any casing of the path: 401 and nothing of the answer.
        foreach (var (method, path, body) in new (HttpMethod, string, JsonObject?)[]
                 {
                     (HttpMethod.Post, "/v1/recognize", recognize), (HttpMethod.Get, "/v1/stats", null), (HttpMethod.Get, "/V1/STATS", null),
                     (HttpMethod.Get, "/v1/models", null), (HttpMethod.Post, "/v1/images", new JsonObject()),
                 })
        {
            foreach (var key in new[] { null, "not-a-key-0123456789" })
            {
                using var response = await SendAsync(method, path, key, body?.DeepClone().AsObject());
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with key {key ?? "(none)"}: {(int)response.StatusCode} {text}");
                Assert.Equal(16, JsonNode.Parse(text)!["code"]!.GetValue<int>()); // UNAUTHENTICATED
                Assert.DoesNotContain("total", text, StringComparison.Ordinal);
            }
        }

        // A valid key without the method's scope: 403.
        using (var wrongScope = await SendAsync(HttpMethod.Get, "/v1/stats", recognizeKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, wrongScope.StatusCode);
        }
        using (var adminOnly = await SendAsync(HttpMethod.Get, "/v1/models", ingestKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, adminOnly.StatusCode);
        }

        // The right scope: answered.
        using (var stats = await SendAsync(HttpMethod.Get, "/v1/stats", ingestKey))
        {
            var json = await JsonAsync(stats);
            Assert.Equal(0, json["total"]?.GetValue<int>() ?? 0);
        }
        using (var answer = await SendAsync(HttpMethod.Post, "/v1/recognize", recognizeKey, recognize))
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
    }
}
