namespace Landmark.VectorIndex;

/// <summary>
/// Thrown when an operation names a collection (or alias) that does not exist. It is an <see cref="ArgumentException"/>,
/// so callers that treat bad arguments alike need no special case.
/// </summary>
public sealed class CollectionNotFoundException : ArgumentException
{
    public CollectionNotFoundException(string collection, string? detail = null)
        : base(detail is null ? $"Collection or alias '{collection}' does not exist." : $"Collection or alias '{collection}' does not exist: {detail}")
    {
        Collection = collection;
    }

    /// <summary>The name (collection or alias) that was not found.</summary>
    public string Collection { get; }
}
