using System.Diagnostics;
using Landmark.Testing;

namespace Landmark.Report.Tests;

/// <summary>Debian's Chromium (<c>/usr/bin/chromium</c>, or <c>CHROMIUM</c>) run headless on a local file: the DOM after
/// load (<c>--dump-dom</c>) or a screenshot. Flags: those that work on a machine without outside network.</summary>
public static class HeadlessChromium
{
    public const string Variable = "CHROMIUM";

    public static string Require()
    {
        var path = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } configured ? configured : "/usr/bin/chromium";
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"Chromium is missing at '{path}': the report test opens the report in a real headless browser. " +
                $"Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set {Variable} to its path.");
        }
        return path;
    }

    /// <summary>The serialised DOM once the page has loaded and its scripts have run.</summary>
    public static Task<string> DumpDomAsync(string htmlFile, int width, int height) =>
        RunAsync(htmlFile, "--dump-dom", $"--window-size={width},{height}", "--virtual-time-budget=5000");

    public static async Task ScreenshotAsync(string htmlFile, string pngFile, int width, int height)
    {
        await RunAsync(htmlFile, $"--screenshot={pngFile}", $"--window-size={width},{height}", "--hide-scrollbars", "--virtual-time-budget=5000");
        if (!File.Exists(pngFile) || new FileInfo(pngFile).Length == 0)
        {
            throw new InvalidOperationException($"Chromium wrote no screenshot at {pngFile}");
        }
    }

    private static async Task<string> RunAsync(string htmlFile, params string[] extra)
    {
        using var profile = TestPaths.CreateTempDirectory("landmark-chromium");
        var start = new ProcessStartInfo(Require())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--allow-file-access-from-files",
                     $"--user-data-dir={profile.Path}",
                 }.Concat(extra))
        {
            start.ArgumentList.Add(arg);
        }
        start.ArgumentList.Add(new Uri(htmlFile).AbsoluteUri);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"chromium did not finish within 90 s: {await stderr}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"chromium exited with {process.ExitCode}: {await stderr}");
        }
        return await stdout;
    }
}
