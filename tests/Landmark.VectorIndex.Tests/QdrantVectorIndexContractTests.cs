using Landmark.VectorIndex;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex.Tests;

/// <summary>The shared contract against a real Qdrant server; only built into the run when QDRANT_URL is set
/// (no Qdrant server can run on the build machine).</summary>
public sealed class QdrantVectorIndexContractTests : VectorIndexContract
{
    private readonly QdrantVectorIndex _index;

    public QdrantVectorIndexContractTests()
    {
        var url = Environment.GetEnvironmentVariable("QDRANT_URL")
            ?? throw new InvalidOperationException("QDRANT_URL is not set");
        _index = new QdrantVectorIndex(new UrlClientFactory(url), Options.Create(new VectorIndexOptions { Provider = VectorIndexProvider.Qdrant }));
    }

    protected override IVectorIndex Index => _index;

    private sealed class UrlClientFactory(string url) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new() { BaseAddress = new Uri(url.TrimEnd('/') + "/") };
    }
}
