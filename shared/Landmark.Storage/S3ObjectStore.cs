using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Minio;
using Minio.DataModel.Args;
using Minio.Exceptions;
using Polly;
using Polly.Retry;

namespace Landmark.Storage;

/// <summary>
/// Object storage on an S3 server (MinIO, Ceph radosgw, AWS) through the MinIO SDK. Physical bucket names are
/// <see cref="S3StorageOptions.BucketPrefix"/> + the logical name. Transient failures (connection refused, timeouts,
/// 5xx) are retried with exponential back-off and jitter; "not found" is never retried.
/// </summary>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private const string MetadataPrefix = "x-amz-meta-";
    private readonly IMinioClient _client;
    private readonly S3StorageOptions _options;
    private readonly ResiliencePipeline _retry;

    public S3ObjectStore(IOptions<StorageOptions> options, ILogger<S3ObjectStore> logger)
    {
        _options = options.Value.S3;
        _client = new MinioClient()
            .WithEndpoint(_options.Endpoint)
            .WithCredentials(_options.AccessKey, _options.SecretKey)
            .WithRegion(_options.Region)
            .WithSSL(_options.UseSsl)
            .WithTimeout(_options.TimeoutSeconds * 1000)
            .Build();
        _retry = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(0, _options.MaxAttempts - 1),
                Delay = TimeSpan.FromMilliseconds(_options.RetryDelayMs),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "S3 call failed (attempt {Attempt}); retrying in {Delay}", args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public string PhysicalBucket(string bucket) => _options.BucketPrefix + bucket;

    public Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken = default) =>
        _retry.ExecuteAsync(async ct =>
        {
            var name = PhysicalBucket(bucket);
            if (await _client.BucketExistsAsync(new BucketExistsArgs().WithBucket(name), ct))
            {
                return;
            }
            try
            {
                await _client.MakeBucketAsync(new MakeBucketArgs().WithBucket(name), ct);
            }
            catch (MinioException ex) when (ex.Message.Contains("BucketAlreadyOwnedByYou", StringComparison.Ordinal) ||
                                            ex.Message.Contains("BucketAlreadyExists", StringComparison.Ordinal))
            {
                // Created concurrently: fine.
            }
        }, cancellationToken).AsTask();

    public async Task PutAsync(string bucket, string key, Stream content, long length, string contentType,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        // A retry must re-send from the start: buffer non-seekable or unknown-length streams.
        Stream source = content;
        MemoryStream? buffer = null;
        if (!content.CanSeek || length < 0)
        {
            buffer = new MemoryStream();
            await content.CopyToAsync(buffer, cancellationToken);
            buffer.Position = 0;
            source = buffer;
            length = buffer.Length;
        }
        var start = source.Position;
        var headers = metadata?.ToDictionary(kv => MetadataPrefix + kv.Key.ToLowerInvariant(), kv => kv.Value) ?? [];
        try
        {
            await _retry.ExecuteAsync(async ct =>
            {
                source.Position = start;
                var args = new PutObjectArgs()
                    .WithBucket(PhysicalBucket(bucket))
                    .WithObject(key)
                    .WithStreamData(source)
                    .WithObjectSize(length)
                    .WithContentType(contentType)
                    .WithHeaders(headers);
                await _client.PutObjectAsync(args, ct);
            }, cancellationToken);
        }
        finally
        {
            buffer?.Dispose();
        }
    }

    public async Task<Stream> OpenReadAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        try
        {
            return await _retry.ExecuteAsync(async ct =>
            {
                var buffer = new MemoryStream();
                // The SDK's stream is only valid inside the callback: copy it out.
                await _client.GetObjectAsync(new GetObjectArgs()
                    .WithBucket(PhysicalBucket(bucket))
                    .WithObject(key)
                    .WithCallbackStream(async (stream, token) => await stream.CopyToAsync(buffer, token)), ct);
                buffer.Position = 0;
                return (Stream)buffer;
            }, cancellationToken);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            throw new ObjectNotFoundException(bucket, key);
        }
    }

    public async Task<ObjectInfo?> StatAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        try
        {
            var stat = await _retry.ExecuteAsync(async ct =>
                await _client.StatObjectAsync(new StatObjectArgs().WithBucket(PhysicalBucket(bucket)).WithObject(key), ct), cancellationToken);
            var metadata = stat.MetaData
                .Where(kv => !string.Equals(kv.Key, "Content-Type", StringComparison.OrdinalIgnoreCase))
                .ToDictionary(
                    kv => kv.Key.StartsWith(MetadataPrefix, StringComparison.OrdinalIgnoreCase) ? kv.Key[MetadataPrefix.Length..].ToLowerInvariant() : kv.Key.ToLowerInvariant(),
                    kv => kv.Value);
            return new ObjectInfo(bucket, key, stat.Size, stat.ContentType, new DateTimeOffset(stat.LastModified.ToUniversalTime(), TimeSpan.Zero),
                stat.ETag?.Trim('"'), metadata);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            return null;
        }
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        return _retry.ExecuteAsync(async ct =>
            await _client.RemoveObjectAsync(new RemoveObjectArgs().WithBucket(PhysicalBucket(bucket)).WithObject(key), ct), cancellationToken).AsTask();
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var args = new ListObjectsArgs().WithBucket(PhysicalBucket(bucket)).WithPrefix(prefix).WithRecursive(true);
        await foreach (var item in _client.ListObjectsEnumAsync(args, cancellationToken))
        {
            if (item.IsDir)
            {
                continue;
            }
            yield return new ObjectInfo(bucket, item.Key, (long)item.Size, null,
                item.LastModifiedDateTime is { } modified ? new DateTimeOffset(modified.ToUniversalTime(), TimeSpan.Zero) : DateTimeOffset.MinValue,
                item.ETag?.Trim('"'), new Dictionary<string, string>());
        }
    }

    /// <summary>A URL that lets its holder download the object without credentials until it expires.</summary>
    public Task<string> PresignGetAsync(string bucket, string key, TimeSpan expiry) =>
        _client.PresignedGetObjectAsync(new PresignedGetObjectArgs().WithBucket(PhysicalBucket(bucket)).WithObject(key).WithExpiry((int)expiry.TotalSeconds));

    /// <summary>A URL that lets its holder upload the object without credentials until it expires.</summary>
    public Task<string> PresignPutAsync(string bucket, string key, TimeSpan expiry) =>
        _client.PresignedPutObjectAsync(new PresignedPutObjectArgs().WithBucket(PhysicalBucket(bucket)).WithObject(key).WithExpiry((int)expiry.TotalSeconds));

    public void Dispose() => (_client as IDisposable)?.Dispose();

    private static bool IsNotFound(Exception ex) =>
        ex is Minio.Exceptions.ObjectNotFoundException or BucketNotFoundException ||
        (ex is MinioException m && (m.Message.Contains("NoSuchKey", StringComparison.Ordinal) || m.Message.Contains("NoSuchBucket", StringComparison.Ordinal)));

    private static bool IsTransient(Exception ex) => !IsNotFound(ex) && ex switch
    {
        ConnectionException or HttpRequestException or SocketException or TimeoutException => true,
        TaskCanceledException => false,
        InternalClientException or UnexpectedMinioException => true,
        MinioException m => m.Message.Contains("InternalError", StringComparison.Ordinal) || m.Message.Contains("SlowDown", StringComparison.Ordinal)
                            || m.Message.Contains("ServiceUnavailable", StringComparison.Ordinal),
        _ => ex.InnerException is HttpRequestException or SocketException,
    };
}
