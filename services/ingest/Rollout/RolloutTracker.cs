namespace Landmark.Ingest;

/// <summary>What the catalog asks for after an image was indexed.</summary>
/// <param name="ReembedWith">Re-embed the image with this model (null = nothing to do).</param>
/// <param name="Completed">This event completed the roll-out: every gallery image is indexed with the target.</param>
public readonly record struct RolloutDecision(string? ReembedWith, bool Completed)
{
    public static RolloutDecision None => default;
}

/// <summary>The persisted part of a roll-out (the pending set is derived from the catalog's records).</summary>
/// <param name="Target">The model being rolled out; null when none is.</param>
/// <param name="Live">The model the catalog last saw activated (null before the first roll-out).</param>
/// <param name="LiveSince">When <paramref name="Live"/> was activated (later activations win).</param>
/// <param name="Completed">Every gallery image is indexed with <paramref name="Target"/>; waiting for the activation.</param>
/// <remarks>The transitions below are pure: the catalog applies them to the snapshot stored in <c>rollout.json</c> as a
/// read-modify-write (re-applied when another replica changed it meanwhile), and the tracker to its own copy.</remarks>
public sealed record RolloutSnapshot(string? Target, string? Live, DateTimeOffset? LiveSince, DateTimeOffset? StartedAt, bool Completed)
{
    public static RolloutSnapshot Empty { get; } = new(null, null, null, null, false);

    /// <summary>The roll-out of <paramref name="target"/> started; the same target resumes (keeps its start and completion).</summary>
    public RolloutSnapshot Started(string target, DateTimeOffset now) =>
        Target == target ? this with { StartedAt = StartedAt ?? now } : this with { Target = target, StartedAt = now, Completed = false };

    /// <summary>Every gallery image is indexed with <paramref name="target"/> (no change when another target is rolling out).</summary>
    public RolloutSnapshot CompletedFor(string target) => Target == target ? this with { Completed = true } : this;

    /// <summary><paramref name="version"/> went live at <paramref name="activatedAt"/>; an activation older than the one
    /// applied changes nothing. Activating the target ends its roll-out.</summary>
    public RolloutSnapshot Activated(string version, DateTimeOffset activatedAt) =>
        LiveSince is { } since && activatedAt < since ? this
        : Target == version ? new RolloutSnapshot(null, version, activatedAt, null, false)
        : this with { Live = version, LiveSince = activatedAt };
}

/// <summary>
/// The catalog's roll-out bookkeeping, without I/O (thread-safe). A roll-out to model T starts with the gallery's
/// indexed images; those not yet indexed with T are pending (and re-embedded). An image indexed with another model while
/// the roll-out runs (a fresh upload, embedded with the live model) becomes pending too. When no image is pending the
/// roll-out is complete (announced once). After T is activated, an image indexed with any other model (an embedder
/// replica that had not switched yet) is re-embedded with the live model. Events may repeat or arrive out of order:
/// decisions depend on the records' state, so repeats never double-count.
/// With several ingest replicas, the one that started the roll-out (<see cref="Begin"/>, or <see cref="Restore"/> at
/// start-up, with the whole catalog in view) tracks completion; the others only <see cref="Follow"/> it, so that images
/// indexed through them join the new index too, and never declare it complete.
/// </summary>
public sealed class RolloutTracker
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _skipped = new(StringComparer.Ordinal);
    private RolloutSnapshot _state = RolloutSnapshot.Empty;
    private long _total;
    private bool _owner;

    public RolloutSnapshot State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>Gallery images the roll-out covers (indexed images at the start plus those indexed since).</summary>
    public long Total
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    /// <summary>Images of <see cref="Total"/> done: indexed with the target or skipped.</summary>
    public long Done
    {
        get
        {
            lock (_lock)
            {
                return _total - _pending.Count;
            }
        }
    }

    /// <summary>True on the replica that tracks the roll-out's completion.</summary>
    public bool IsOwner
    {
        get
        {
            lock (_lock)
            {
                return _owner;
            }
        }
    }

    public long Skipped
    {
        get
        {
            lock (_lock)
            {
                return _skipped.Count;
            }
        }
    }

    public IReadOnlyList<string> Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending.ToList();
            }
        }
    }

    /// <summary>Restores a persisted roll-out against the catalog's indexed images (at start-up). Returns the images to
    /// re-embed (the pending ones, when the roll-out is not complete).</summary>
    public IReadOnlyList<CatalogRecord> Restore(RolloutSnapshot snapshot, IEnumerable<CatalogRecord> records)
    {
        lock (_lock)
        {
            _state = snapshot;
            _owner = snapshot.Target is not null;
            return snapshot.Target is { } target && !snapshot.Completed ? Recount(target, records) : Clear();
        }
    }

    /// <summary>Starts (or, for the same target, resumes) a roll-out to <paramref name="target"/>. Returns the images to
    /// re-embed and whether the roll-out is already complete (nothing to re-embed: announce it).</summary>
    public (IReadOnlyList<CatalogRecord> Reembed, bool Completed) Begin(string target, IEnumerable<CatalogRecord> records, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_state.Target == target && _state.Completed)
            {
                return ([], true);
            }
            _owner = true;
            var reembed = Recount(target, records);
            _state = _state.Started(target, now);
            if (_pending.Count == 0)
            {
                _state = _state.CompletedFor(target);
            }
            return (reembed, _state.Completed);
        }
    }

    /// <summary>Another replica started the roll-out of <paramref name="target"/>: images indexed here with another model
    /// are re-embedded for it, but this replica does not track completion. No-op when the target is already known.</summary>
    public bool Follow(string target, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_state.Target == target)
            {
                return false;
            }
            _owner = false;
            Clear();
            _state = _state with { Target = target, StartedAt = now, Completed = false };
            return true;
        }
    }

    /// <summary><paramref name="record"/> (after the update) was just indexed with <paramref name="version"/>.</summary>
    public RolloutDecision OnIndexed(CatalogRecord record, string version)
    {
        lock (_lock)
        {
            if (_state.Target is { } target)
            {
                if (record.IsIndexedWith(target))
                {
                    return Settle(record.ImageId);
                }
                if (_state.Completed)
                {
                    // Complete (announced) but not active yet: the image joins the target's index without being waited for.
                    return new RolloutDecision(target, false);
                }
                if (_pending.Add(record.ImageId))
                {
                    _total++;
                    return new RolloutDecision(target, false);
                }
                // Already requested (this is a repeat, or the live model's index got it meanwhile).
                return RolloutDecision.None;
            }
            if (_state.Live is { } live && version != live && !record.IsIndexedWith(live))
            {
                return new RolloutDecision(live, false);
            }
            return RolloutDecision.None;
        }
    }

    /// <summary>Recounts the roll-out against the records as storage holds them (with several replicas, each sees only
    /// part of the events): an indexed image the target's index lacks is pending unless skipped, all others are done.
    /// Returns the images pending now that were not before (indexed through another replica with another model; to
    /// re-embed) and whether this completed the roll-out (only on the replica that tracks it).</summary>
    public (IReadOnlyList<CatalogRecord> NewlyPending, bool Completed) Reconcile(IEnumerable<CatalogRecord> records)
    {
        lock (_lock)
        {
            if (_state.Target is not { } target || _state.Completed)
            {
                return ([], false);
            }
            var pending = new HashSet<string>(StringComparer.Ordinal);
            var newlyPending = new List<CatalogRecord>();
            long total = 0;
            foreach (var record in records)
            {
                if (record.Status != CatalogStatus.Indexed)
                {
                    continue;
                }
                total++;
                if (!record.IsIndexedWith(target) && !_skipped.Contains(record.ImageId))
                {
                    pending.Add(record.ImageId);
                    if (!_pending.Contains(record.ImageId))
                    {
                        newlyPending.Add(record);
                    }
                }
            }
            _pending.Clear();
            _pending.UnionWith(pending);
            _total = total;
            if (_pending.Count > 0 || !_owner)
            {
                return (newlyPending, false);
            }
            _state = _state.CompletedFor(target);
            return (newlyPending, true);
        }
    }

    /// <summary>The image cannot be embedded with <paramref name="version"/>: stop waiting for it.</summary>
    public bool OnSkipped(string imageId, string version)
    {
        lock (_lock)
        {
            if (_state.Target != version || _state.Completed || !_pending.Contains(imageId))
            {
                return false;
            }
            _skipped.Add(imageId);
            return Settle(imageId).Completed;
        }
    }

    /// <summary><paramref name="version"/> went live at <paramref name="activatedAt"/>. Returns false (and changes
    /// nothing) for an activation older than the one already applied.</summary>
    public bool Activate(string version, DateTimeOffset activatedAt)
    {
        lock (_lock)
        {
            if (_state.LiveSince is { } since && activatedAt < since)
            {
                return false;
            }
            _state = _state.Activated(version, activatedAt);
            if (_state.Target is null)
            {
                _owner = false;
                Clear();
            }
            return true;
        }
    }

    private RolloutDecision Settle(string imageId)
    {
        if (!_pending.Remove(imageId) || _pending.Count > 0 || _state.Completed || !_owner)
        {
            return RolloutDecision.None;
        }
        _state = _state with { Completed = true };
        return new RolloutDecision(null, true);
    }

    private List<CatalogRecord> Recount(string target, IEnumerable<CatalogRecord> records)
    {
        _pending.Clear();
        _skipped.Clear();
        _total = 0;
        var reembed = new List<CatalogRecord>();
        foreach (var record in records)
        {
            if (record.Status != CatalogStatus.Indexed)
            {
                continue;
            }
            _total++;
            if (!record.IsIndexedWith(target))
            {
                _pending.Add(record.ImageId);
                reembed.Add(record);
            }
        }
        return reembed;
    }

    private List<CatalogRecord> Clear()
    {
        _pending.Clear();
        _skipped.Clear();
        _total = 0;
        return [];
    }
}
