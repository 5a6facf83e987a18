namespace Landmark.Datasets;

/// <summary>
/// Follows an import's images until each one has settled (indexed or rejected), asking about a bounded window of the
/// oldest unsettled images per round instead of all of them. The pipeline works roughly in upload order, so the oldest
/// images settle first: a round asks about the first <see cref="Window"/> pending images and, while more than half of
/// a window had settled, the next one. A round then costs about the images that settled since the last round plus one
/// window, whatever the import's size; asking about every pending image each second cost 747 catalog reads a second at
/// the start of a 747-image import, and would be a million at the start of a million-image one. Images that settle out
/// of order are counted when their window is asked about. Images may be added from any thread, also while a round runs
/// (they join the next one); rounds run one at a time.
/// </summary>
/// <typeparam name="TRecord">What a lookup answers for one image.</typeparam>
public sealed class ImportWatch<TRecord>
{
    /// <summary>Images asked about per lookup.</summary>
    public const int DefaultWindow = 256;

    private readonly Func<TRecord, bool> _isSettled;
    private readonly object _gate = new();
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly List<string> _added = [];

    /// <summary>Unsettled images in the order added; only a round touches it (rounds run one at a time), and it removes
    /// just the images it saw settle, so a round's cost does not grow with the images behind its windows.</summary>
    private readonly LinkedList<string> _pending = new();
    private int _pendingCount;

    /// <param name="isSettled">Whether a record is final (indexed or rejected): such an image is not asked about again.</param>
    /// <param name="window">Images asked about per lookup.</param>
    public ImportWatch(Func<TRecord, bool> isSettled, int window = DefaultWindow)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _isSettled = isSettled;
        Window = window;
    }

    public int Window { get; }

    /// <summary>Distinct images added (the same content uploaded twice is one image).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _known.Count;
            }
        }
    }

    /// <summary>Images added that have not been seen settled.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pendingCount + _added.Count;
            }
        }
    }

    /// <summary>Adds an image to follow; an image already added is ignored.</summary>
    public void Add(string imageId)
    {
        lock (_gate)
        {
            if (_known.Add(imageId))
            {
                _added.Add(imageId);
            }
        }
    }

    /// <summary>One round: asks <paramref name="lookup"/> about windows of the oldest pending images (as described on the
    /// class) and returns the records that settled, each image once over the watch's life. An image the lookup does not
    /// answer for stays pending.</summary>
    public async Task<IReadOnlyList<TRecord>> PollAsync(
        Func<IReadOnlyList<string>, CancellationToken, Task<IReadOnlyDictionary<string, TRecord>>> lookup, CancellationToken ct)
    {
        lock (_gate)
        {
            foreach (var id in _added)
            {
                _pending.AddLast(id);
            }
            _added.Clear();
            _pendingCount = _pending.Count;
        }

        var settled = new List<TRecord>();
        var settledNodes = new List<LinkedListNode<string>>();
        var window = new List<LinkedListNode<string>>(Window);
        for (var node = _pending.First; node is not null;)
        {
            window.Clear();
            for (; node is not null && window.Count < Window; node = node.Next)
            {
                window.Add(node);
            }
            var answers = await lookup(window.ConvertAll(n => n.Value), ct);
            var settledHere = 0;
            foreach (var asked in window)
            {
                if (answers.TryGetValue(asked.Value, out var record) && _isSettled(record))
                {
                    settled.Add(record);
                    settledHere++;
                    settledNodes.Add(asked);
                }
            }
            if (settledHere * 2 <= window.Count)
            {
                break; // the rest are younger than images still on their way: asked about in a later round
            }
        }
        // Removed only once every lookup of the round has answered: a round that fails reports nothing and loses nothing.
        foreach (var node in settledNodes)
        {
            _pending.Remove(node);
        }
        lock (_gate)
        {
            _pendingCount = _pending.Count;
        }
        return settled;
    }
}
