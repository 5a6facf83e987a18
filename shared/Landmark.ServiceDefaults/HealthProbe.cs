using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Landmark.ServiceDefaults;

/// <summary>
/// <c>dotnet Landmark.X.dll healthcheck</c>: asks the running service's <c>/healthz</c> on the HTTP port and exits 0 when
/// it answers healthy. Used by the images' Docker HEALTHCHECK (the runtime images carry no curl or wget).
/// </summary>
public static class HealthProbe
{
    public const string Command = "healthcheck";

    public static bool IsRequested(string[] args) => args.Length > 0 && args[0] == Command;

    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args.Skip(1).ToArray()).Build();
        var port = configuration.GetValue("Landmark:Hosting:HttpPort", new HostingOptions().HttpPort);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/healthz"));
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"unhealthy: {ex.Message}");
            return 1;
        }
    }
}
