using System.ComponentModel.DataAnnotations;

namespace Landmark.Storage;

/// <summary>Which <see cref="IObjectStore"/> implementation <c>AddObjectStore</c> registers.</summary>
public enum StorageProvider
{
    /// <summary>Files under <see cref="LocalStorageOptions.Root"/> (embedded mode): <see cref="LocalDiskObjectStore"/>.</summary>
    Local,
    /// <summary>An S3 server (MinIO, Ceph radosgw, AWS S3): <see cref="S3ObjectStore"/>.</summary>
    S3,
}

/// <summary>Bound from configuration section <c>Landmark:Storage</c>; checked at start-up by
/// <see cref="StorageOptionsValidator"/> (data annotations of the nested options included).</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Landmark:Storage";

    public StorageProvider Provider { get; set; } = StorageProvider.Local;

    public LocalStorageOptions Local { get; set; } = new();

    public S3StorageOptions S3 { get; set; } = new();

    /// <summary>Logical bucket that <see cref="ObjectStoreHealthCheck"/> probes.</summary>
    [Required]
    public string HealthCheckBucket { get; set; } = Buckets.Catalog;
}

/// <summary>Settings of <see cref="LocalDiskObjectStore"/>.</summary>
public sealed class LocalStorageOptions
{
    /// <summary>Root directory; relative paths are relative to the working directory.</summary>
    [Required]
    public string Root { get; set; } = "data/objects";

    /// <summary>Keep each object's metadata in its file's extended attribute (<c>user.landmark.meta</c>) when the file
    /// system has them: one file per object instead of two. False, or a file system without them: sidecar files under
    /// <c>.meta/</c>. Either way both are read.</summary>
    public bool ExtendedAttributes { get; set; } = true;
}

/// <summary>Settings of <see cref="S3ObjectStore"/>.</summary>
public sealed class S3StorageOptions
{
    /// <summary><c>host:port</c>, e.g. <c>minio:9000</c> or <c>127.0.0.1:7480</c>; an <c>http://</c> or
    /// <c>https://</c> URL is accepted too (its scheme then decides <see cref="UseSsl"/>).</summary>
    public string Endpoint { get; set; } = "";

    public string AccessKey { get; set; } = "";

    public string SecretKey { get; set; } = "";

    /// <summary>Talk to the server over TLS (also chosen by an <c>https://</c> <see cref="Endpoint"/>).</summary>
    public bool UseSsl { get; set; }

    /// <summary>The certificate authorities (PEM) that the server's certificate must chain to, instead of the system's
    /// roots: a private CA (cert-manager's <c>ca.crt</c>, an internal PKI). Empty: the system's roots. Needs TLS.</summary>
    public string CaPath { get; set; } = "";

    /// <summary>Signing region; radosgw and MinIO accept <c>us-east-1</c>.</summary>
    [Required]
    public string Region { get; set; } = "us-east-1";

    /// <summary>Physical bucket name = prefix + logical name (e.g. <c>landmark-raw</c>). Lower-case letters, digits, '-'
    /// and '.'; may be empty.</summary>
    [RegularExpression("^[a-z0-9][a-z0-9.-]{0,21}$|^$")]
    public string BucketPrefix { get; set; } = "landmark-";

    /// <summary>Downloads up to this size are held in memory; larger ones are spooled to a temporary file deleted when
    /// the stream is closed. Non-seekable uploads of a known length up to this size are buffered so that a transient
    /// failure can resend them. (Multipart upload is the SDK's choice: in 5 MiB+ parts from 5 MiB on, and always for
    /// streams of unknown length.)</summary>
    [Range(64 * 1024, 1024L * 1024 * 1024)]
    public long MemoryBufferBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Attempts of one operation when the server is unreachable or answers 5xx (1 = no retry).</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>First retry delay; grows exponentially with jitter.</summary>
    [Range(1, 60_000)]
    public int RetryDelayMs { get; set; } = 200;

    /// <summary>Timeout of one request (a whole download is one request; an upload is one request per 5 MiB+ part).</summary>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 60;

    /// <summary>Longest wait for a TCP connection to the server.</summary>
    [Range(1, 300)]
    public int ConnectTimeoutSeconds { get; set; } = 10;
}
