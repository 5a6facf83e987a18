using Microsoft.AspNetCore.Builder;

namespace Landmark.ServiceDefaults;

/// <summary>The one way every Landmark process creates its web application builder.</summary>
public static class LandmarkApplication
{
    /// <summary>The host setting that turns off watching the configuration files for changes.</summary>
    public const string ReloadConfigOnChangeKey = "hostBuilder:reloadConfigOnChange";

    /// <summary>
    /// <see cref="WebApplication.CreateBuilder(string[])"/> without the watcher on <c>appsettings*.json</c>. The default
    /// watches the content root (the working directory) with an inotify watch on every directory below it, placed at
    /// start-up by walking the whole tree. The embedded platform's data directory defaults to <c>./data</c>, inside that
    /// tree, with one directory per image: with 200,000 images there, start-up took 5.5-6.7 s instead of 2.0-2.1 s, and
    /// the process held every inotify watch the user may have (192,530 on the test machine), leaving none for any other
    /// program. Configuration comes from environment variables and arguments (the Helm chart sets environment variables,
    /// and a change rolls the pods), so nothing is lost. The argument
    /// <c>--hostBuilder:reloadConfigOnChange=true</c> turns the watcher back on.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(string[] args) =>
        // First, so that the caller's own setting of the key (later on the command line) wins.
        WebApplication.CreateBuilder([$"--{ReloadConfigOnChangeKey}=false", .. args]);
}
