using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Minio;
using Minio.DataModel;
using Minio.DataModel.Args;
using Minio.Exceptions;
using Polly;
using Polly.Retry;
using SdkObjectNotFoundException = Minio.Exceptions.ObjectNotFoundException;

namespace Landmark.Storage;

/// <summary>
/// Object storage on an S3 server (MinIO, Ceph radosgw, AWS) through the MinIO SDK 7. Physical bucket names are
/// <see cref="S3StorageOptions.BucketPrefix"/> + the logical name.
/// <para>
/// Transient failures (connection refused or reset, timeouts, HTTP 5xx, throttling) are retried with exponential
/// back-off and jitter (<see cref="S3StorageOptions.MaxAttempts"/>, <see cref="S3StorageOptions.RetryDelayMs"/>) and
/// end in an <see cref="ObjectStoreUnavailableException"/>; "not found" is never retried. Server error answers surface
/// as <see cref="S3ServiceException"/> (status, S3 code, message) instead of the SDK's exceptions.
/// </para>
/// <para>
/// Uploads: a seekable stream is sent with its size (the SDK uses multipart from 5 MiB on) and rewound for a retry;
/// a non-seekable stream of known length up to <see cref="S3StorageOptions.MemoryBufferBytes"/> is buffered first;
/// any other non-seekable stream (length -1, or large) is streamed as a multipart upload in 5 MiB parts and retried
/// only if the failure came before its first byte was read. Downloads (<see cref="OpenReadAsync"/>) are copied out of
/// the SDK's callback into memory, or into a temporary file beyond <see cref="S3StorageOptions.MemoryBufferBytes"/>.
/// </para>
/// <para>
/// <see cref="ListAsync"/> gives size, ETag and last-modified time; content type and user metadata need
/// <see cref="StatAsync"/>. ETags never have quotes; metadata keys are lower-case.
/// </para>
/// <para>
/// Conditional writes (<see cref="PutIfAsync"/>) are S3 PUTs with <c>If-None-Match: *</c> or <c>If-Match: etag</c>,
/// which the server checks atomically with the write (AWS S3 since 2024, MinIO, Ceph radosgw — checked against radosgw
/// 16.2: of 16 concurrent PUTs with one ETag exactly one is stored, the others get 412). The ETag is sent without quotes:
/// radosgw 16.2 compares the header verbatim and answers 412 to the quoted form; MinIO and AWS strip quotes before
/// comparing. A 412 <c>PreconditionFailed</c> (or AWS's 409 <c>ConditionalRequestConflict</c>) is
/// <see cref="ConditionalPutOutcome.PreconditionFailed"/>. radosgw 16.2 answers a race lost inside the OSD (its atomic
/// compare, <c>-ECANCELED</c>) with HTTP 500; like any 5xx it is retried with the same condition, which is safe (the
/// retry is written only if the version still matches) and ends in 412 when another writer won. The MinIO SDK 7 cannot add these headers to its PutObject
/// request, so these calls (and <see cref="GetVersionedAsync"/>, which needs the ETag of the very bytes it returns,
/// not of a separate stat) go through a short-lived presigned URL on the store's own HTTP client.
/// </para>
/// </summary>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private const string MetadataHeaderPrefix = "x-amz-meta-";
    private const string DefaultContentType = "application/octet-stream";
    private static readonly TimeSpan MaxPresignExpiry = TimeSpan.FromDays(7);

    /// <summary>Lifetime of the presigned URLs behind the conditional calls (used at once).</summary>
    private static readonly TimeSpan ConditionalUrlExpiry = TimeSpan.FromMinutes(15);

    /// <summary>Headers the SDK reports in <see cref="ObjectStat.MetaData"/> next to the user metadata.</summary>
    private static readonly HashSet<string> SystemHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "content-type", "cache-control", "content-encoding", "content-disposition", "x-amz-acl", "x-minio-extract",
    };

    private static readonly ResiliencePropertyKey<Attempt> AttemptKey = new("landmark.s3.attempt");

    private readonly IMinioClient _client;
    private readonly HttpClient _http;
    private readonly S3StorageOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _retry;
    private readonly string _endpoint;

    /// <summary>A store for <see cref="StorageOptions.S3"/>.</summary>
    public S3ObjectStore(IOptions<StorageOptions> options, ILogger<S3ObjectStore> logger)
        : this(options.Value.S3, logger)
    {
    }

    /// <summary>A store for <paramref name="options"/>.</summary>
    public S3ObjectStore(S3StorageOptions options, ILogger<S3ObjectStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        if (!S3Endpoint.TryParse(options.Endpoint, options.UseSsl, out var hostAndPort, out var secure))
        {
            throw new ArgumentException($"S3 endpoint '{options.Endpoint}' is not host:port or an http(s) URL.", nameof(options));
        }
        _endpoint = (secure ? "https://" : "http://") + hostAndPort;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(options.ConnectTimeoutSeconds),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (!string.IsNullOrWhiteSpace(options.CaPath))
        {
            // A private CA: the server's certificate must chain to it (host name still checked), not to the system's roots.
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(S3Endpoint.LoadAuthorities(options.CaPath));
            handler.SslOptions.CertificateChainPolicy = policy;
        }
        _http = new HttpClient(new S3ErrorHandler(handler));
        _client = new MinioClient()
            .WithEndpoint(hostAndPort)
            .WithCredentials(options.AccessKey, options.SecretKey)
            .WithRegion(options.Region)
            .WithSSL(secure)
            .WithTimeout(checked(options.TimeoutSeconds * 1000))
            .WithHttpClient(_http, disposeHttpClient: false)
            .Build();
        _retry = BuildRetryPipeline(options, _logger);
    }

    /// <summary>Endpoint URL this store talks to.</summary>
    public string Endpoint => _endpoint;

    /// <summary>The S3 bucket that holds logical bucket <paramref name="bucket"/>.</summary>
    public string PhysicalBucket(string bucket)
    {
        BucketNames.Validate(bucket);
        return _options.BucketPrefix + bucket;
    }

    public Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default)
    {
        var name = PhysicalBucket(bucket);
        return RunAsync("create bucket", bucket, null, async ct =>
        {
            if (await _client.BucketExistsAsync(new BucketExistsArgs().WithBucket(name), ct).ConfigureAwait(false))
            {
                return true;
            }
            try
            {
                await _client.MakeBucketAsync(new MakeBucketArgs().WithBucket(name).WithLocation(_options.Region), ct).ConfigureAwait(false);
                _logger.LogInformation("Created bucket {Bucket} at {Endpoint}", name, _endpoint);
            }
            catch (Exception ex) when (ex is S3ServiceException { ErrorCode: "BucketAlreadyOwnedByYou" or "BucketAlreadyExists" } ||
                                       (ex is ArgumentException && ex.Message.StartsWith("Bucket already owned by you", StringComparison.Ordinal)))
            {
                // Created concurrently (or already ours): idempotent. "BucketAlreadyExists" may also mean another
                // account owns the name, which the next operation reports as access denied.
            }
            return true;
        }, cancellationToken);
    }

    /// <summary>True when the bucket exists (and the credentials may see it).</summary>
    public Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken = default)
    {
        var name = PhysicalBucket(bucket);
        return RunAsync("check bucket", bucket, null,
            async ct => await _client.BucketExistsAsync(new BucketExistsArgs().WithBucket(name), ct).ConfigureAwait(false), cancellationToken);
    }

    public async Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, -1);
        ObjectKeys.Validate(key);
        var name = PhysicalBucket(bucket);
        var headers = ObjectMetadata.Normalize(metadata).ToDictionary(kv => MetadataHeaderPrefix + kv.Key, kv => kv.Value);
        var type = string.IsNullOrWhiteSpace(contentType) ? DefaultContentType : contentType;

        Stream? owned = null;
        Stream source = content;
        long size = length;
        Func<bool> canResend;
        if (content.CanSeek)
        {
            var remaining = content.Length - content.Position;
            if (length >= 0 && length != remaining)
            {
                throw new InvalidDataException($"Expected {length} bytes for '{bucket}/{key}' but the stream has {remaining}.");
            }
            size = remaining;
            canResend = () => true;
        }
        else if (length >= 0 && length <= _options.MemoryBufferBytes)
        {
            owned = await SpooledContent.CopyAsync(content, _options.MemoryBufferBytes, cancellationToken).ConfigureAwait(false);
            if (owned.Length != length)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
                throw new InvalidDataException($"Expected {length} bytes for '{bucket}/{key}' but the stream had {owned.Length}.");
            }
            source = owned;
            canResend = () => true;
        }
        else
        {
            // Streamed (multipart for length -1): it can be sent again only if nothing was read yet.
            var tracking = new ReadTrackingStream(content);
            source = tracking;
            canResend = () => !tracking.Consumed;
        }

        var start = source.CanSeek ? source.Position : 0;
        try
        {
            await RunAsync("put", bucket, key, async ct =>
            {
                if (source.CanSeek)
                {
                    source.Position = start;
                }
                var args = new PutObjectArgs()
                    .WithBucket(name)
                    .WithObject(key)
                    .WithStreamData(source)
                    .WithObjectSize(size)
                    .WithContentType(type)
                    .WithHeaders(headers);
                await _client.PutObjectAsync(args, ct).ConfigureAwait(false);
                return true;
            }, cancellationToken, canResend).ConfigureAwait(false);
        }
        finally
        {
            if (owned is not null)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async Task<ConditionalPutResult> PutIfAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType,
        WriteCondition condition, CancellationToken cancellationToken = default)
    {
        var url = await PresignPutAsync(bucket, key, ConditionalUrlExpiry).ConfigureAwait(false);
        var type = string.IsNullOrWhiteSpace(contentType) ? DefaultContentType : contentType;
        try
        {
            return await RunAsync("conditional put", bucket, key, async ct =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new ReadOnlyMemoryContent(content) };
                request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
                if (condition.ETag is { } etag)
                {
                    request.Headers.TryAddWithoutValidation("If-Match", etag);
                }
                else
                {
                    request.Headers.TryAddWithoutValidation("If-None-Match", "*");
                }
                using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
                if (IsPreconditionFailure(response.StatusCode, null))
                {
                    return ConditionalPutResult.PreconditionFailed;
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw new S3ServiceException(response.StatusCode, response.ReasonPhrase, null, null, "PUT", bucket + "/" + key);
                }
                var written = ETagOf(response) ?? Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(content.Span));
                return new ConditionalPutResult(ConditionalPutOutcome.Written, written);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (S3ServiceException ex) when (IsPreconditionFailure(ex.StatusCode, ex.ErrorCode))
        {
            return ConditionalPutResult.PreconditionFailed;
        }
    }

    public async Task<VersionedObject?> GetVersionedAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        var url = await PresignGetAsync(bucket, key, ConditionalUrlExpiry).ConfigureAwait(false);
        try
        {
            return await RunAsync("versioned get", bucket, key, async ct =>
            {
                using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw new S3ServiceException(response.StatusCode, response.ReasonPhrase, null, null, "GET", bucket + "/" + key);
                }
                var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
                var etag = ETagOf(response) ?? throw new InvalidDataException($"The S3 server sent no ETag for '{bucket}/{key}'.");
                return new VersionedObject(bytes, etag);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            return null;
        }
    }

    public async Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        var name = PhysicalBucket(bucket);
        try
        {
            return await RunAsync("get", bucket, key, async ct =>
            {
                Stream? copy = null;
                try
                {
                    // The SDK's stream is only valid inside the callback: copy it out.
                    await _client.GetObjectAsync(new GetObjectArgs()
                        .WithBucket(name)
                        .WithObject(key)
                        .WithCallbackStream(async (stream, token) =>
                        {
                            copy = await SpooledContent.CopyAsync(stream, _options.MemoryBufferBytes, token).ConfigureAwait(false);
                        }), ct).ConfigureAwait(false);
                    return copy ?? throw new InvalidOperationException($"The S3 client returned no content for '{bucket}/{key}'.");
                }
                catch
                {
                    if (copy is not null)
                    {
                        await copy.DisposeAsync().ConfigureAwait(false);
                    }
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            throw new ObjectNotFoundException(bucket, key);
        }
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        var name = PhysicalBucket(bucket);
        ObjectStat stat;
        try
        {
            stat = await RunAsync("stat", bucket, key,
                async ct => await _client.StatObjectAsync(new StatObjectArgs().WithBucket(name).WithObject(key), ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            return null;
        }
        var metadata = stat.MetaData
            .Where(kv => !SystemHeaders.Contains(kv.Key))
            .ToDictionary(
                kv => (kv.Key.StartsWith(MetadataHeaderPrefix, StringComparison.OrdinalIgnoreCase) ? kv.Key[MetadataHeaderPrefix.Length..] : kv.Key).ToLowerInvariant(),
                kv => kv.Value);
        return new ObjectInfo(bucket, key, stat.Size, stat.ContentType, ToUtc(stat.LastModified), NormalizeETag(stat.ETag), metadata);
    }

    public async Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        var name = PhysicalBucket(bucket);
        try
        {
            await RunAsync("delete", bucket, key, async ct =>
            {
                await _client.RemoveObjectAsync(new RemoveObjectArgs().WithBucket(name).WithObject(key), ct).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            // Deleting a missing object (or from a missing bucket) is not an error.
        }
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectKeys.ValidatePrefix(prefix);
        var name = PhysicalBucket(bucket);
        // The SDK pages through the listing itself (continuation tokens). A transient failure restarts the listing and
        // skips what was already returned (S3 lists in key order), up to MaxAttempts times in all.
        string? last = null;
        for (var attempt = 1; ; attempt++)
        {
            var args = new ListObjectsArgs().WithBucket(name).WithPrefix(prefix).WithRecursive(true).WithVersions(false);
            var items = _client.ListObjectsEnumAsync(args, cancellationToken).GetAsyncEnumerator(cancellationToken);
            Exception? failure = null;
            try
            {
                while (true)
                {
                    Item item;
                    try
                    {
                        if (!await items.MoveNextAsync().ConfigureAwait(false))
                        {
                            yield break;
                        }
                        item = items.Current;
                    }
                    catch (Exception ex) when (IsNotFound(ex))
                    {
                        // A missing bucket holds no objects.
                        yield break;
                    }
                    catch (Exception ex) when (IsTransient(ex, cancellationToken))
                    {
                        failure = ex;
                        break;
                    }
                    if (item.IsDir || (last is not null && ObjectKeys.Order.Compare(item.Key, last) <= 0))
                    {
                        continue;
                    }
                    last = item.Key;
                    yield return new ObjectInfo(bucket, item.Key, (long)item.Size, item.ContentType,
                        item.LastModifiedDateTime is { } modified ? ToUtc(modified) : DateTimeOffset.MinValue,
                        NormalizeETag(item.ETag), item.UserMetadata is { } meta
                            ? meta.ToDictionary(kv => kv.Key.ToLowerInvariant(), kv => kv.Value)
                            : new Dictionary<string, string>());
                }
            }
            finally
            {
                await items.DisposeAsync().ConfigureAwait(false);
            }
            if (attempt >= _options.MaxAttempts)
            {
                throw Unavailable("list", bucket, prefix, attempt, failure);
            }
            var delay = BackoffDelay(attempt);
            _logger.LogWarning(failure, "S3 list of {Bucket}/{Prefix}* failed (attempt {Attempt} of {MaxAttempts}); retrying in {Delay}",
                bucket, prefix, attempt, _options.MaxAttempts, delay);
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A URL that lets its holder download the object without credentials until it expires (1 s to 7 days).
    /// Computed locally: the object need not exist yet.</summary>
    public Task<string> PresignGetAsync(string bucket, string key, TimeSpan expiry)
    {
        ObjectKeys.Validate(key);
        return _client.PresignedGetObjectAsync(new PresignedGetObjectArgs()
            .WithBucket(PhysicalBucket(bucket)).WithObject(key).WithExpiry(ExpirySeconds(expiry)));
    }

    /// <summary>A URL that lets its holder upload the object with an HTTP PUT without credentials until it expires
    /// (1 s to 7 days).</summary>
    public Task<string> PresignPutAsync(string bucket, string key, TimeSpan expiry)
    {
        ObjectKeys.Validate(key);
        return _client.PresignedPutObjectAsync(new PresignedPutObjectArgs()
            .WithBucket(PhysicalBucket(bucket)).WithObject(key).WithExpiry(ExpirySeconds(expiry)));
    }

    public void Dispose()
    {
        _client.Dispose();
        _http.Dispose();
    }

    /// <summary>True for "no such object / bucket", whichever layer reported it.</summary>
    internal static bool IsNotFound(Exception ex) => ex switch
    {
        SdkObjectNotFoundException or BucketNotFoundException => true,
        S3ServiceException s3 => s3.IsNotFound,
        MinioException { Response.Code: "NoSuchKey" or "NoSuchBucket" } => true,
        _ => false,
    };

    /// <summary>True for failures worth retrying: the server unreachable, slow, overloaded or failing (5xx).</summary>
    internal static bool IsTransient(Exception ex, CancellationToken callerToken)
    {
        if (IsNotFound(ex))
        {
            return false;
        }
        return ex switch
        {
            S3ServiceException s3 => s3.IsTransient,
            // The SDK's own request timeout cancels; the caller's cancellation is not a failure.
            OperationCanceledException => !callerToken.IsCancellationRequested,
            HttpRequestException or SocketException or TimeoutException or ConnectionException => true,
            MinioException { ServerResponse: { } response } => (int)response.StatusCode >= 500 || response.StatusCode == 0,
            IOException { InnerException: SocketException or HttpRequestException } => true,
            _ => ex.InnerException is HttpRequestException or SocketException,
        };
    }

    private async Task<T> RunAsync<T>(string operation, string bucket, string? key, Func<CancellationToken, Task<T>> action,
        CancellationToken cancellationToken, Func<bool>? canResend = null)
    {
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        var attempt = new Attempt(canResend);
        context.Properties.Set(AttemptKey, attempt);
        try
        {
            return await _retry.ExecuteAsync(static async (ctx, state) =>
            {
                state.attempt.Count++;
                return await state.action(ctx.CancellationToken).ConfigureAwait(false);
            }, context, (attempt, action)).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            throw Unavailable(operation, bucket, key, attempt.Count, ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private ObjectStoreUnavailableException Unavailable(string operation, string bucket, string? key, int attempts, Exception? cause) =>
        new($"S3 {operation} of '{bucket}{(key is null ? "" : "/" + key)}' at {_endpoint} failed after {attempts} attempt(s): " +
            $"{cause?.GetType().Name}: {cause?.Message}", attempts, cause ?? new IOException("unknown failure"));

    private static ResiliencePipeline BuildRetryPipeline(S3StorageOptions options, ILogger logger)
    {
        if (options.MaxAttempts <= 1)
        {
            return ResiliencePipeline.Empty;
        }
        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                Delay = TimeSpan.FromMilliseconds(options.RetryDelayMs),
                MaxDelay = TimeSpan.FromSeconds(30),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex &&
                    IsTransient(ex, args.Context.CancellationToken) &&
                    (!args.Context.Properties.TryGetValue(AttemptKey, out var attempt) || attempt.CanResend)),
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "S3 {Operation} failed (attempt {Attempt} of {MaxAttempts}); retrying in {Delay}",
                        args.Context.OperationKey, args.AttemptNumber + 1, options.MaxAttempts, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private TimeSpan BackoffDelay(int attempt)
    {
        var baseDelay = _options.RetryDelayMs * Math.Pow(2, attempt - 1);
        return TimeSpan.FromMilliseconds(Math.Min(30_000, baseDelay * (0.5 + Random.Shared.NextDouble())));
    }

    private static int ExpirySeconds(TimeSpan expiry)
    {
        if (expiry < TimeSpan.FromSeconds(1) || expiry > MaxPresignExpiry)
        {
            throw new ArgumentOutOfRangeException(nameof(expiry), expiry, "A presigned URL lives 1 second to 7 days.");
        }
        return (int)expiry.TotalSeconds;
    }

    private static bool IsPreconditionFailure(HttpStatusCode status, string? errorCode) =>
        status == HttpStatusCode.PreconditionFailed || errorCode is "PreconditionFailed" or "ConditionalRequestConflict";

    private static string? ETagOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues("ETag", out var values) ? NormalizeETag(values.FirstOrDefault()) : null;

    private static string? NormalizeETag(string? etag) => string.IsNullOrEmpty(etag) ? null : etag.Trim('"');

    private static DateTimeOffset ToUtc(DateTime value) =>
        new(value.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(value, DateTimeKind.Utc) : value.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>Attempts of one operation, and whether its request body can be sent again.</summary>
    private sealed class Attempt(Func<bool>? canResend)
    {
        public int Count { get; set; }
        public bool CanResend => canResend?.Invoke() ?? true;
    }
}
