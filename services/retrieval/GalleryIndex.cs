using System.Text;
using Landmark.Contracts.Messages;
using Landmark.VectorIndex;

namespace Landmark.Retrieval;

/// <summary>
/// The gallery in the vector index: one collection per embedding model (<c>gallery-&lt;model&gt;</c>), since vectors of
/// different models are not comparable, and the alias <see cref="LiveAlias"/> naming the collection that answers
/// searches which do not name a model.
/// </summary>
public sealed class GalleryIndex(IVectorIndex index)
{
    public const string LiveAlias = "gallery-live";
    public const string RoleLandmark = "landmark";
    public const string RoleNonLandmark = "non_landmark";
    public const string FileNameKey = "file_name";
    public const string ExternalIdKey = "external_id";

    private readonly SemaphoreSlim _activation = new(1, 1);
    private DateTimeOffset _lastActivation = DateTimeOffset.MinValue;

    public IVectorIndex Index { get; } = index;

    public static string CollectionFor(string modelVersion)
    {
        var safe = new StringBuilder("gallery-");
        foreach (var c in modelVersion)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_');
        }
        return safe.ToString();
    }

    public static string RoleName(GalleryRole role) => role == GalleryRole.Landmark ? RoleLandmark : RoleNonLandmark;

    /// <summary>Adds or replaces the vectors of one model; the first model indexed becomes live. Never moves an existing
    /// alias: a model being rolled out fills its collection while the live one keeps answering
    /// (<see cref="ActivateAsync"/> switches).</summary>
    public async Task<string> UpsertAsync(string modelVersion, IReadOnlyList<ImageEmbedded> images, CancellationToken cancellationToken)
    {
        var collection = CollectionFor(modelVersion);
        await Index.EnsureCollectionAsync(collection, images[0].Vector.Length, cancellationToken);
        var points = images.Select(m => new VectorPoint(m.ImageId, m.Vector, new Dictionary<string, string>
        {
            [PayloadKeys.ImageId] = m.ImageId,
            [PayloadKeys.LandmarkId] = m.LandmarkId ?? "",
            [PayloadKeys.Role] = RoleName(m.Role),
            [FileNameKey] = m.FileName,
            [ExternalIdKey] = m.ExternalId ?? "",
        })).ToList();
        await Index.UpsertAsync(collection, points, cancellationToken);
        if (await Index.ResolveAliasAsync(LiveAlias, cancellationToken) is null)
        {
            await Index.SetAliasAsync(LiveAlias, collection, cancellationToken);
        }
        return collection;
    }

    /// <summary>Points <see cref="LiveAlias"/> at the model's collection (one atomic request in Qdrant), creating the
    /// collection empty when the gallery has no image yet. Idempotent. Returns null (and changes nothing) for an
    /// activation older than the last one applied by this instance.</summary>
    public async Task<string?> ActivateAsync(string modelVersion, int dimension, DateTimeOffset activatedAt, CancellationToken cancellationToken)
    {
        await _activation.WaitAsync(cancellationToken);
        try
        {
            if (activatedAt < _lastActivation)
            {
                return null;
            }
            var collection = await ActivateCoreAsync(modelVersion, dimension, cancellationToken);
            _lastActivation = activatedAt;
            return collection;
        }
        finally
        {
            _activation.Release();
        }
    }

    private async Task<string> ActivateCoreAsync(string modelVersion, int dimension, CancellationToken cancellationToken)
    {
        var collection = CollectionFor(modelVersion);
        if (!await Index.CollectionExistsAsync(collection, cancellationToken))
        {
            await Index.EnsureCollectionAsync(collection, dimension, cancellationToken);
        }
        if (await Index.ResolveAliasAsync(LiveAlias, cancellationToken) != collection)
        {
            await Index.SetAliasAsync(LiveAlias, collection, cancellationToken);
        }
        return collection;
    }

    /// <summary>The collection to search: the model's own, or the live one.</summary>
    public async Task<string?> ResolveAsync(string? modelVersion, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(modelVersion))
        {
            var collection = CollectionFor(modelVersion);
            return await Index.CollectionExistsAsync(collection, cancellationToken) ? collection : null;
        }
        return await Index.ResolveAliasAsync(LiveAlias, cancellationToken);
    }
}
