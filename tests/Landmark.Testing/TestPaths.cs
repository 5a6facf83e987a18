using System.Net;
using System.Net.Sockets;

namespace Landmark.Testing;

/// <summary>
/// Where tests find things. The dataset root is the one setting <c>LANDMARK_DATASETS</c>; its default is
/// the <c>shared/datasets</c> folder beside the checkout (<c>../shared/datasets</c> from the repository root).
/// </summary>
public static class TestPaths
{
    public const string DatasetsVariable = "LANDMARK_DATASETS";

    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The directory that holds <c>Landmark.Services.sln</c>.</summary>
    public static string RepoRoot => Root.Value;

    public static string DatasetsRoot =>
        Environment.GetEnvironmentVariable(DatasetsVariable) is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "datasets"));

    /// <summary>The landmarks-mini dataset (GLDv2 layout).</summary>
    public static string LandmarksMini => Path.Combine(DatasetsRoot, "landmarks-mini");

    /// <summary>Fails the test with a clear message when the shared dataset is missing.</summary>
    public static string RequireLandmarksMini()
    {
        var path = LandmarksMini;
        if (!File.Exists(Path.Combine(path, "train.csv")))
        {
            throw new InvalidOperationException(
                $"The shared dataset is missing at '{path}'. Set {DatasetsVariable} to the folder that holds landmarks-mini.");
        }
        return path;
    }

    /// <summary>A fresh directory under the system temp folder, deleted by <see cref="TempDirectory.Dispose"/>.</summary>
    public static TempDirectory CreateTempDirectory(string prefix = "landmark-test") => new(prefix);

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Landmark.Services.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Landmark.Services.sln not found above " + AppContext.BaseDirectory);
    }
}

public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
