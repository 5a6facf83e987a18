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
    private List<string> _pending = [];

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
                return _pending.Count + _added.Count;
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
        List<string> pending;
        lock (_gate)
        {
            _pending.AddRange(_added);
            _added.Clear();
            pending = _pending;
        }

        var settled = new List<TRecord>();
        var stillPending = new List<string>(pending.Count);
        var next = 0;
        while (next < pending.Count)
        {
            var window = pending.GetRange(next, Math.Min(Window, pending.Count - next));
            next += window.Count;
            var answers = await lookup(window, ct);
            var settledHere = 0;
            foreach (var id in window)
            {
                if (answers.TryGetValue(id, out var record) && _isSettled(record))
                {
                    settled.Add(record);
                    settledHere++;
                }
                else
                {
                    stillPending.Add(id);
                }
            }
            if (settledHere * 2 <= window.Count)
            {
                break; // the rest are younger than images still on their way: asked about in a later round
            }
        }
        stillPending.AddRange(pending.Skip(next));
        lock (_gate)
        {
            _pending = stillPending;
        }
        return settled;
    }
}
