using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Platform;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Reporting;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Report.Tests;

public sealed partial class EvaluationReportBrowserTests(ITestOutputHelper output)
{
    /// <summary>Collects, once the page has loaded, what a person would see: the GAP figure, whether the curve has a
    /// length, and each image's decoded (natural) size. Injected into a copy of the report only: the report has no script.</summary>
    private const string RenderCheckScript = """
        <script>
        window.addEventListener('load', () => {
          const images = [...document.images];
          const decoded = images.filter(i => i.complete && i.naturalWidth > 0);
          const curve = document.getElementById('precision-curve');
          const box = curve ? curve.getBBox() : null;
          const out = document.createElement('pre');
          out.id = 'render-check';
          out.textContent = JSON.stringify({
            gap: (document.getElementById('gap-value') || {}).textContent || null,
            images: images.length,
            decoded: decoded.length,
            maxSide: Math.max(0, ...decoded.map(i => Math.max(i.naturalWidth, i.naturalHeight))),
            minSide: Math.min(100000, ...decoded.map(i => Math.min(i.naturalWidth, i.naturalHeight))),
            curveLength: curve ? curve.getTotalLength() : -1,
            curveWidth: box ? box.width : -1,
            curveHeight: box ? box.height : -1,
            rows: document.querySelectorAll('#landmarks tbody tr').length,
          });
          document.body.appendChild(out);
        });
        </script>
        """;

    [Fact]
    public async Task A_report_of_a_small_real_evaluation_renders_its_figures_and_thumbnails_in_headless_chromium()
    {
        HeadlessChromium.Require();
        var full = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var classes = full.Train.GroupBy(i => i.LandmarkId!).OrderBy(g => g.Key, StringComparer.Ordinal).Take(4).ToList();
        // Three landmarks in the gallery; the fourth has queries but no gallery photo, so its queries are certain misses.
        var gallery = classes.Take(3).SelectMany(g => g.Take(8)).ToList();
        var distractors = full.NonLandmarks.Take(12).ToList();
        var dataset = new Dataset
        {
            Root = full.Root,
            Layout = full.Layout,
            Landmarks = full.Landmarks,
            Train = gallery,
            NonLandmarks = distractors,
            Problems = [],
        };
        var (allQueries, _) = full.ReadSplit("val");
        var wanted = classes.Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var queries = allQueries.Where(q => q.LandmarkId is { } l && wanted.Contains(l)).GroupBy(q => q.LandmarkId).SelectMany(g => g.Take(2))
            .Concat(allQueries.Where(q => q.LandmarkId is null).Take(5))
            .ToList();

        using var data = TestPaths.CreateTempDirectory("landmark-report");
        var port = TestPaths.FreeTcpPort();
        await using var app = PlatformHost.Build(
        [
            $"--{PlatformHost.DataDirectoryKey}={data.Path}",
            string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={port}"),
            "--Landmark:Hosting:HttpPort=0",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await app.StartAsync();
        try
        {
            using var channel = GrpcChannel.ForAddress(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"),
                new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
            var ingest = new IngestService.IngestServiceClient(channel);
            var ids = new List<string>();
            foreach (var image in gallery)
            {
                ids.Add(await Pipeline.UploadAsync(ingest, image));
            }
            foreach (var image in distractors)
            {
                ids.Add(await Pipeline.UploadAsync(ingest, image, ImageRole.NonLandmark));
            }
            await Pipeline.WaitAsync(ingest, ids, TimeSpan.FromMinutes(3));

            var run = await EvaluationRunner.RunAsync(new EvaluationService.EvaluationServiceClient(channel), queries, null, CancellationToken.None);
            Assert.NotNull(run);
            Assert.Equal(queries.Count, run.Outcomes.Count);
            Assert.All(run.Outcomes.Where(o => o.Error.Length == 0), o => Assert.NotEmpty(o.Neighbours));
            Assert.NotEmpty(run.Result.ModelVersion);
            Assert.Contains(nameof(ScorerOptions.VotingNeighbours), run.Result.ScorerSettings.Keys);
            var live = await new ModelService.ModelServiceClient(channel).GetLiveModelAsync(new GetLiveModelRequest());

            var report = EvaluationReportBuilder.Build(dataset, "val", run, live);
            var directory = Path.Combine(ResultsDirectory(), "evaluation-report");
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
            var html = HtmlReport.Write(directory, report, dataset);
            var size = new FileInfo(html).Length;
            output.WriteLine($"GAP={report.Summary.Gap:F4} accuracy={report.Summary.Accuracy:F4} queries={report.Summary.Queries}; {html} {size / 1e3:F0} kB");

            // The figures: report.json holds what the server computed; the misses include the landmark without gallery photos.
            using (var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(directory, HtmlReport.JsonFileName))))
            {
                Assert.Equal(run.Result.Gap, json.RootElement.GetProperty("summary").GetProperty("gap").GetDouble(), 12);
                Assert.Equal(queries.Count, json.RootElement.GetProperty("queries").GetArrayLength());
            }
            Assert.Contains(report.WorstMisses, m => m.TrueLandmarkId == classes[3].Key);
            Assert.Equal(4, report.Landmarks.Count(l => l.Queries > 0));
            Assert.True(size < 3_000_000, $"the report is {size} bytes");

            // Rendered by a real browser: the GAP figure, the curve with a length, every thumbnail decoded at ≤ 128 px.
            var checkFile = Path.Combine(data.Path, "check.html");
            var page = await File.ReadAllTextAsync(html);
            await File.WriteAllTextAsync(checkFile, page.Replace("</body>", RenderCheckScript + "</body>", StringComparison.Ordinal));
            var dom = await HeadlessChromium.DumpDomAsync(checkFile, 1280, 2000);
            var match = RenderCheck().Match(dom);
            Assert.True(match.Success, "the render check found nothing in the DOM:\n" + dom[..Math.Min(dom.Length, 2000)]);
            using var check = JsonDocument.Parse(WebUtility.HtmlDecode(match.Groups[1].Value));
            var c = check.RootElement;
            output.WriteLine("render check: " + c.GetRawText());
            Assert.Equal(report.Summary.Gap.ToString("F4", CultureInfo.InvariantCulture), c.GetProperty("gap").GetString());
            var images = c.GetProperty("images").GetInt32();
            // Query and neighbour thumbnails of every example, plus one gallery photo per landmark with gallery photos.
            Assert.True(images >= report.WorstMisses.Count + report.NonLandmarksRankedHighest.Count + 3, $"only {images} images in the page");
            Assert.Equal(images, c.GetProperty("decoded").GetInt32());
            Assert.InRange(c.GetProperty("maxSide").GetDouble(), 16, Thumbnails.DefaultMaxSide);
            Assert.True(c.GetProperty("curveLength").GetDouble() > 100, "the precision curve has no length");
            Assert.True(c.GetProperty("curveWidth").GetDouble() > 50, "the precision curve has no width");
            Assert.Equal(report.Landmarks.Count, c.GetProperty("rows").GetInt32());

            // What a person sees, kept as a CI artefact.
            var screenshot = Path.Combine(ResultsDirectory(), "evaluation-report.png");
            await HeadlessChromium.ScreenshotAsync(html, screenshot, 1280, 2400);
            output.WriteLine($"screenshot: {screenshot}");
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <summary>Where build/run-tests.sh collects results (TEST_RESULTS_DIR, default artifacts/test-results).</summary>
    private static string ResultsDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("TEST_RESULTS_DIR");
        var path = configured is { Length: > 0 } ? Path.GetFullPath(configured, TestPaths.RepoRoot) : Path.Combine(TestPaths.RepoRoot, "artifacts", "test-results");
        Directory.CreateDirectory(path);
        return path;
    }

    [GeneratedRegex("<pre id=\"render-check\">(.*?)</pre>", RegexOptions.Singleline)]
    private static partial Regex RenderCheck();
}
