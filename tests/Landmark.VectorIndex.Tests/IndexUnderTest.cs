using Landmark.Testing;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.VectorIndex.Tests;

/// <summary>
/// One <see cref="IVectorIndex"/> implementation prepared for a test: the embedded index in a fresh temp directory
/// searching exactly or through its HNSW graph (always available), or a real Qdrant at <c>QDRANT_URL</c>, its gRPC
/// endpoint such as <c>http://localhost:6334</c> (available only when that variable is set; <c>QDRANT_API_KEY</c> is sent
/// when set). Collections
/// are named with a per-test prefix and removed on dispose.
/// </summary>
public sealed class IndexUnderTest : IAsyncDisposable
{
    public const string Embedded = "embedded-exact";
    public const string EmbeddedHnsw = "embedded-hnsw";
    public const string Qdrant = "qdrant";
    public const string QdrantUrlVariable = "QDRANT_URL";
    public const string QdrantApiKeyVariable = "QDRANT_API_KEY";

    private readonly TempDirectory? _directory;
    private readonly QdrantConnection? _connection;

    private IndexUnderTest(string implementation)
    {
        Implementation = implementation;
        switch (implementation)
        {
            case Embedded:
                _directory = TestPaths.CreateTempDirectory("landmark-index");
                Index = new EmbeddedVectorIndex(new EmbeddedIndexOptions { Path = _directory.Path, Search = EmbeddedSearchMode.Exact });
                break;
            case EmbeddedHnsw:
                _directory = TestPaths.CreateTempDirectory("landmark-index");
                Index = new EmbeddedVectorIndex(new EmbeddedIndexOptions { Path = _directory.Path, Search = EmbeddedSearchMode.Hnsw });
                break;
            case Qdrant:
                // The contract against a real server, through the same connection (gRPC channel, retries, api-key) and
                // adapter the services register.
                var url = QdrantUrl ?? throw new InvalidOperationException($"{QdrantUrlVariable} is not set.");
                var options = new VectorIndexOptions
                {
                    Provider = VectorIndexProvider.Qdrant,
                    Qdrant = new QdrantOptions { Url = url, ApiKey = Environment.GetEnvironmentVariable(QdrantApiKeyVariable), TimeoutSeconds = 60 },
                };
                if (options.Qdrant.TryGetEndpoint(out var endpoint) && endpoint.Port == QdrantOptions.RestPort)
                {
                    throw new InvalidOperationException($"{QdrantUrlVariable}={url} names Qdrant's REST port; the client speaks gRPC on {QdrantOptions.DefaultGrpcPort}.");
                }
                _connection = new QdrantConnection(options.Qdrant);
                Index = new QdrantVectorIndex(_connection.Client, Options.Create(options));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(implementation), implementation, "Unknown implementation.");
        }
    }

    /// <summary>The implementations the contract runs against here: the embedded index (exact scan and HNSW graph) always,
    /// Qdrant when <c>QDRANT_URL</c> is set.</summary>
    public static TheoryData<string> Available
    {
        get
        {
            var data = new TheoryData<string> { Embedded, EmbeddedHnsw };
            if (QdrantUrl is not null)
            {
                data.Add(Qdrant);
            }
            return data;
        }
    }

    public static string? QdrantUrl => Environment.GetEnvironmentVariable(QdrantUrlVariable) is { Length: > 0 } url ? url : null;

    public string Implementation { get; }

    /// <summary>True when searches may miss true neighbours (an HNSW graph); exact implementations must match brute force.</summary>
    public bool IsApproximate => Implementation == EmbeddedHnsw;

    public IVectorIndex Index { get; }

    /// <summary>Prefix shared by every collection and alias name this test uses.</summary>
    public string Prefix { get; } = "t" + Guid.NewGuid().ToString("N")[..12];

    public static IndexUnderTest Create(string implementation) => new(implementation);

    /// <summary>A collection or alias name unique to this test.</summary>
    public string Name(string suffix = "main") => $"{Prefix}-{suffix}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var collection in (await Index.ListCollectionsAsync()).Where(c => c.StartsWith(Prefix, StringComparison.Ordinal)))
            {
                await Index.DeleteCollectionAsync(collection);
            }
        }
        finally
        {
            (Index as IDisposable)?.Dispose();
            _connection?.Dispose();
            _directory?.Dispose();
        }
    }
}
