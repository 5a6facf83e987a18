namespace Landmark.VectorIndex;

/// <summary>
/// A store of vectors with payload, searched by cosine similarity. Collections hold vectors of one
/// dimension; aliases point at collections and are switched atomically (zero-downtime re-index:
/// build a new collection, then move the alias). Every method that takes a collection name also
/// accepts an alias.
/// Implementations: <see cref="EmbeddedVectorIndex"/> (in-process, persisted to disk) and
/// <see cref="QdrantVectorIndex"/> (a Qdrant server through the official gRPC client).
/// </summary>
public interface IVectorIndex
{
    /// <summary>Creates the collection if missing (idempotent). Throws when it exists with another dimension.</summary>
    Task EnsureCollectionAsync(string collection, int dimension, CancellationToken cancellationToken = default);

    /// <summary>True when a collection (or an alias of one) of that name exists.</summary>
    Task<bool> CollectionExistsAsync(string collection, CancellationToken cancellationToken = default);

    /// <summary>Deletes a collection with its points and the aliases that point at it; no-op when missing.</summary>
    Task DeleteCollectionAsync(string collection, CancellationToken cancellationToken = default);

    /// <summary>The names of all collections (not aliases), in ordinal order.</summary>
    Task<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces points by id (idempotent: upserting the same id twice keeps one point).</summary>
    Task UpsertAsync(string collection, IReadOnlyList<VectorPoint> points, CancellationToken cancellationToken = default);

    /// <summary>Deletes points by id; ids that are not present are ignored.</summary>
    Task DeleteAsync(string collection, IReadOnlyList<string> ids, CancellationToken cancellationToken = default);

    /// <summary>The point with its vector, or null.</summary>
    Task<VectorPoint?> GetAsync(string collection, string id, CancellationToken cancellationToken = default);

    /// <summary>For each query, the <paramref name="limit"/> most similar points (cosine, highest first).</summary>
    Task<IReadOnlyList<IReadOnlyList<SearchHit>>> SearchAsync(string collection, IReadOnlyList<float[]> queries, int limit,
        PayloadFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>The number of points, or of those matching <paramref name="filter"/> (exact).</summary>
    Task<long> CountAsync(string collection, PayloadFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Points <paramref name="alias"/> at <paramref name="collection"/> atomically (creating or moving it).</summary>
    Task SetAliasAsync(string alias, string collection, CancellationToken cancellationToken = default);

    /// <summary>The collection an alias points at, or null.</summary>
    Task<string?> ResolveAliasAsync(string alias, CancellationToken cancellationToken = default);
}

/// <summary>A vector with string payload. Ids are arbitrary strings (e.g. content hashes).</summary>
public sealed record VectorPoint(string Id, float[] Vector, IReadOnlyDictionary<string, string> Payload);

/// <summary>A search result; <see cref="Score"/> is the cosine similarity.</summary>
public sealed record SearchHit(string Id, float Score, IReadOnlyDictionary<string, string> Payload);

/// <summary>Matches points whose payload has every key with exactly the given value.</summary>
public sealed record PayloadFilter(IReadOnlyDictionary<string, string> MustEqual)
{
    /// <summary>A filter on one key.</summary>
    public static PayloadFilter Equal(string key, string value) => new(new Dictionary<string, string> { [key] = value });
}

/// <summary>Payload keys used by the platform.</summary>
public static class PayloadKeys
{
    public const string ImageId = "image_id";
    public const string LandmarkId = "landmark_id";
    public const string Role = "role";
}
