using Landmark.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>Every service's builder (<see cref="LandmarkApplication"/>) reads <c>appsettings.json</c> from its content
/// root once, without a file watcher on the content root's tree (in the embedded mode the data directory lies inside it).</summary>
public sealed class ConfigurationFileTests : IDisposable
{
    private readonly string _contentRoot = Directory.CreateTempSubdirectory("landmark-config-").FullName;

    public ConfigurationFileTests() =>
        File.WriteAllText(Path.Combine(_contentRoot, "appsettings.json"), """{ "Landmark": { "Probe": "from the file" } }""");

    public void Dispose() => Directory.Delete(_contentRoot, recursive: true);

    [Fact]
    public void The_settings_file_is_read_but_not_watched_for_changes()
    {
        var builder = LandmarkApplication.CreateBuilder([$"--contentRoot={_contentRoot}"]);

        Assert.Equal("from the file", builder.Configuration["Landmark:Probe"]);
        var files = builder.Configuration.Sources.OfType<JsonConfigurationSource>().ToList();
        Assert.Contains(files, f => f.Path == "appsettings.json");
        Assert.All(files, f => Assert.False(f.ReloadOnChange, $"{f.Path} is watched for changes"));
    }

    [Fact]
    public void The_operator_can_turn_the_watcher_back_on()
    {
        var builder = LandmarkApplication.CreateBuilder([$"--contentRoot={_contentRoot}", $"--{LandmarkApplication.ReloadConfigOnChangeKey}=true"]);

        var settings = builder.Configuration.Sources.OfType<JsonConfigurationSource>().Single(f => f.Path == "appsettings.json");
        Assert.True(settings.ReloadOnChange);
    }
}
