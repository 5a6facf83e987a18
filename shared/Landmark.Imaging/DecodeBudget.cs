namespace Landmark.Imaging;

/// <summary>
/// A process-wide weighted semaphore of decode memory, counted in pixels of 4 bytes ("megapixels in flight"). Every
/// decode estimates what it will hold at once (decoder buffers, rows, outputs; see <see cref="ImagePipeline"/>) and
/// acquires that weight before it allocates anything, so N huge images queue instead of exhausting memory together.
/// <para>
/// Waiters are served first come, first served: a large request at the head is not starved by a stream of small ones
/// behind it (they wait too; the budget only protects memory, the consumer's concurrency limit sets throughput). A
/// request heavier than the whole budget can never be served and is refused by the pipeline before it waits
/// (<see cref="RejectionCodes.TooLarge"/>): a deterministic answer on every delivery, rather than a lease that empties
/// the budget for everyone; the options' validation keeps <see cref="ImagingOptions.MaxPixels"/> within the budget so
/// this only happens for layouts whose decoders buffer more than the pixels (progressive JPEG, lossless WebP).
/// </para>
/// </summary>
public sealed class DecodeBudget
{
    private readonly object _gate = new();
    private readonly LinkedList<Waiter> _queue = new();
    private long _inUse;
    private long _peak;

    public DecodeBudget(long capacityPixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityPixels, 1);
        Capacity = capacityPixels;
    }

    /// <summary>The budget from <see cref="ImagingOptions.DecodeBudgetMegapixels"/>.</summary>
    public static DecodeBudget FromOptions(ImagingOptions options) => new(options.DecodeBudgetMegapixels * 1_000_000L);

    public long Capacity { get; }

    public long InUse => Volatile.Read(ref _inUse);

    /// <summary>The highest weight held at once since start (tests and benchmarks).</summary>
    public long Peak => Volatile.Read(ref _peak);

    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Waits (without blocking a thread) until <paramref name="weight"/> pixels are free, in arrival order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The weight exceeds <see cref="Capacity"/> (it could never be served).</exception>
    public ValueTask<Lease> AcquireAsync(long weight, CancellationToken cancellationToken = default)
    {
        CheckWeight(weight);
        Waiter waiter;
        lock (_gate)
        {
            if (_queue.Count == 0 && _inUse + weight <= Capacity)
            {
                Take(weight);
                return ValueTask.FromResult(new Lease(this, weight));
            }
            waiter = new Waiter(weight);
            waiter.Node = _queue.AddLast(waiter);
        }
        return new ValueTask<Lease>(WaitAsync(waiter, cancellationToken));
    }

    /// <summary>As <see cref="AcquireAsync"/>, blocking the calling thread (the synchronous pipeline entry points).</summary>
    public Lease Acquire(long weight, CancellationToken cancellationToken = default)
    {
        var pending = AcquireAsync(weight, cancellationToken);
        return pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    private async Task<Lease> WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(() => Cancel(waiter)))
        {
            await waiter.Completion.Task.ConfigureAwait(false);
        }
        return new Lease(this, waiter.Weight);
    }

    private void Cancel(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is null)
            {
                return; // already granted
            }
            _queue.Remove(waiter.Node);
            waiter.Node = null;
            GrantWaiters(); // a cancelled head may have been the one blocking the rest
        }
        waiter.Completion.TrySetCanceled();
    }

    private void Release(long weight)
    {
        lock (_gate)
        {
            _inUse -= weight;
            GrantWaiters();
        }
    }

    private void GrantWaiters()
    {
        while (_queue.First is { } head && _inUse + head.Value.Weight <= Capacity)
        {
            _queue.RemoveFirst();
            head.Value.Node = null;
            Take(head.Value.Weight);
            head.Value.Completion.TrySetResult(); // continuations run asynchronously
        }
    }

    private void Take(long weight)
    {
        _inUse += weight;
        if (_inUse > _peak)
        {
            _peak = _inUse;
        }
    }

    private void CheckWeight(long weight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(weight, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weight, Capacity);
    }

    private sealed class Waiter(long weight)
    {
        public long Weight { get; } = weight;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }
    }

    /// <summary>Held decode memory; disposing returns it (once).</summary>
    public sealed class Lease : IDisposable
    {
        private DecodeBudget? _owner;

        internal Lease(DecodeBudget owner, long weight)
        {
            _owner = owner;
            Weight = weight;
        }

        public long Weight { get; }

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(Weight);
    }
}
