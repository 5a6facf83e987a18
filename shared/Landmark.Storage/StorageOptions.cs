using System.ComponentModel.DataAnnotations;

namespace Landmark.Storage;

public enum StorageProvider
{
    /// <summary>Files under <see cref="LocalStorageOptions.Root"/> (embedded mode).</summary>
    Local,
    /// <summary>An S3 server (MinIO, Ceph radosgw, AWS S3).</summary>
    S3,
}

/// <summary>Bound from configuration section <c>Landmark:Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Landmark:Storage";

    public StorageProvider Provider { get; set; } = StorageProvider.Local;

    public LocalStorageOptions Local { get; set; } = new();

    public S3StorageOptions S3 { get; set; } = new();
}

public sealed class LocalStorageOptions
{
    /// <summary>Root directory; relative paths are relative to the working directory.</summary>
    [Required]
    public string Root { get; set; } = "data/objects";
}

public sealed class S3StorageOptions
{
    /// <summary>host:port, e.g. <c>minio:9000</c> or <c>127.0.0.1:7480</c>.</summary>
    public string Endpoint { get; set; } = "";

    public string AccessKey { get; set; } = "";

    public string SecretKey { get; set; } = "";

    public bool UseSsl { get; set; }

    public string Region { get; set; } = "us-east-1";

    /// <summary>Physical bucket name = prefix + logical name (e.g. <c>landmark-raw</c>).</summary>
    public string BucketPrefix { get; set; } = "landmark-";

    /// <summary>Objects larger than this are uploaded in parts.</summary>
    [Range(5 * 1024 * 1024, long.MaxValue)]
    public long MultipartThresholdBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Attempts of one operation when the server is unreachable or answers 5xx (1 = no retry).</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>First retry delay; grows exponentially with jitter.</summary>
    [Range(1, 60_000)]
    public int RetryDelayMs { get; set; } = 200;

    /// <summary>Timeout of one request.</summary>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 60;
}
