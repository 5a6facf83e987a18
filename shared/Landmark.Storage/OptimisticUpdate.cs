using System.Text.Json;
using Polly;
using Polly.Retry;

namespace Landmark.Storage;

/// <summary>The result of <see cref="OptimisticUpdate.UpdateJsonAsync{T}"/>.</summary>
/// <param name="Value">The record as stored afterwards: the new value when <paramref name="Written"/>, else the current
/// one (null when there is none).</param>
/// <param name="ETag">The version of <paramref name="Value"/> (null when there is no record).</param>
/// <param name="Written">The update changed the record.</param>
/// <param name="Attempts">Reads (and conditional writes) it took: 1 without contention.</param>
public readonly record struct UpdateResult<T>(T? Value, string? ETag, bool Written, int Attempts) where T : class;

/// <summary>A shared record kept changing under a read-modify-write: every one of
/// <see cref="OptimisticUpdate.MaxAttempts"/> conditional writes found a newer version.</summary>
public sealed class ConcurrencyConflictException(string bucket, string key, int attempts)
    : IOException($"'{bucket}/{key}' changed under each of {attempts} read-modify-write attempts (too many concurrent writers).")
{
    public string Bucket { get; } = bucket;
    public string Key { get; } = key;
    public int Attempts { get; } = attempts;
}

/// <summary>
/// Optimistic concurrency for JSON records that several replicas change: read the record with its version
/// (<see cref="IObjectStore.GetVersionedAsync"/>), apply the change, write it only if the version is unchanged
/// (<see cref="IObjectStore.PutIfAsync"/>), and on <see cref="ConditionalPutOutcome.PreconditionFailed"/> read again
/// and re-apply, with exponential back-off and jitter (Polly). No update is lost, whichever replica makes it.
/// </summary>
public static class OptimisticUpdate
{
    /// <summary>Attempts before <see cref="ConcurrencyConflictException"/>. Each conflict means another writer
    /// succeeded, so the system as a whole always progresses; this only bounds one caller's wait.</summary>
    public const int MaxAttempts = 64;

    private const string JsonContentType = "application/json";

    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = MaxAttempts - 1,
            Delay = TimeSpan.FromMilliseconds(5),
            MaxDelay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = new PredicateBuilder().HandleResult(r => r is IConflictOutcome { Conflict: true }),
        })
        .Build();

    /// <summary>
    /// Applies <paramref name="update"/> to the JSON record at <paramref name="bucket"/>/<paramref name="key"/>.
    /// <paramref name="update"/> gets the current value (null when the record does not exist) and returns the new value,
    /// or null to leave the record as it is; it may run several times (once per attempt), so it must not have side
    /// effects beyond its result.
    /// </summary>
    /// <exception cref="ConcurrencyConflictException">Every attempt lost to another writer.</exception>
    public static async Task<UpdateResult<T>> UpdateJsonAsync<T>(this IObjectStore store, string bucket, string key,
        Func<T?, T?> update, JsonSerializerOptions json, CancellationToken cancellationToken = default) where T : class
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(update);
        var attempts = 0;
        var outcome = await Retry.ExecuteAsync(async ct =>
        {
            attempts++;
            var current = await store.GetVersionedAsync(bucket, key, ct).ConfigureAwait(false);
            var value = current is null ? null : JsonSerializer.Deserialize<T>(current.Content, json);
            if (update(value) is not { } next)
            {
                return new Attempt<T>(value, current?.ETag, Written: false, Conflict: false);
            }
            var result = await store.PutIfAsync(bucket, key, JsonSerializer.SerializeToUtf8Bytes(next, json), JsonContentType,
                WriteCondition.For(current), ct).ConfigureAwait(false);
            return result.Written
                ? new Attempt<T>(next, result.ETag, Written: true, Conflict: false)
                : new Attempt<T>(null, null, Written: false, Conflict: true);
        }, cancellationToken).ConfigureAwait(false);
        return outcome.Conflict
            ? throw new ConcurrencyConflictException(bucket, key, attempts)
            : new UpdateResult<T>(outcome.Value, outcome.ETag, outcome.Written, attempts);
    }

    /// <summary>The JSON record and its version, or null when it does not exist.</summary>
    public static async Task<(T Value, string ETag)?> GetJsonAsync<T>(this IObjectStore store, string bucket, string key,
        JsonSerializerOptions json, CancellationToken cancellationToken = default) where T : class
    {
        ArgumentNullException.ThrowIfNull(store);
        var current = await store.GetVersionedAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        return current is null || JsonSerializer.Deserialize<T>(current.Content, json) is not { } value ? null : (value, current.ETag);
    }

    private interface IConflictOutcome
    {
        bool Conflict { get; }
    }

    private sealed record Attempt<T>(T? Value, string? ETag, bool Written, bool Conflict) : IConflictOutcome;
}
