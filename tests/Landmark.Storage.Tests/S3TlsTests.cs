using Landmark.Testing;
using Xunit;

namespace Landmark.Storage.Tests;

/// <summary>S3 over TLS with a private CA (<see cref="S3StorageOptions.CaPath"/>), against an HTTPS server whose
/// certificate is made in the test.</summary>
public sealed class S3TlsTests : IDisposable
{
    private readonly TempDirectory _files = TestPaths.CreateTempDirectory("landmark-s3-tls");
    private readonly TestCertificateAuthority _ca = new("Landmark S3 test CA");

    private static S3ObjectStore Store(string endpoint, string caPath) => new(new S3StorageOptions
    {
        Endpoint = endpoint,
        AccessKey = "key",
        SecretKey = "secret",
        BucketPrefix = "x-",
        MaxAttempts = 1,
        TimeoutSeconds = 10,
        CaPath = caPath,
    });

    [Fact]
    public async Task An_https_endpoint_signed_by_the_configured_ca_is_trusted_and_without_the_ca_nothing_is_sent()
    {
        using var certificate = _ca.Issue(Path.Combine(_files.Path, "s3"), "s3.test");
        await using var server = await FakeS3Server.StartAsync((c, _) => FakeS3Server.Ok(c), certificate.Certificate);

        using (var trusting = Store(server.Endpoint, certificate.CaPath))
        {
            await trusting.PutBytesAsync("raw", "k", new byte[] { 1, 2, 3 });
        }
        Assert.Equal(["PUT /x-raw/k"], server.Requests);

        using var systemRoots = Store(server.Endpoint, caPath: "");
        await Assert.ThrowsAnyAsync<Exception>(() => systemRoots.PutBytesAsync("raw", "k2", new byte[] { 1 }));
        Assert.Single(server.Requests); // the TLS handshake failed: no request reached the server
    }

    [Fact]
    public void A_ca_file_that_is_missing_or_used_without_tls_is_refused_at_start_up()
    {
        var caPath = _ca.WriteCa(Path.Combine(_files.Path, "ca.crt"));
        var validator = new StorageOptionsValidator();

        var missing = validator.Validate(null, new StorageOptions
        {
            Provider = StorageProvider.S3,
            S3 = new S3StorageOptions { Endpoint = "https://s3.test:443", AccessKey = "a", SecretKey = "s", CaPath = caPath + ".missing" },
        });
        var cleartext = validator.Validate(null, new StorageOptions
        {
            Provider = StorageProvider.S3,
            S3 = new S3StorageOptions { Endpoint = "s3.test:7480", AccessKey = "a", SecretKey = "s", CaPath = caPath },
        });
        var good = validator.Validate(null, new StorageOptions
        {
            Provider = StorageProvider.S3,
            S3 = new S3StorageOptions { Endpoint = "s3.test:7480", UseSsl = true, AccessKey = "a", SecretKey = "s", CaPath = caPath },
        });

        Assert.Contains(missing.Failures!, f => f.StartsWith("Landmark:Storage:S3:CaPath: the file", StringComparison.Ordinal));
        Assert.Contains(cleartext.Failures!, f => f.StartsWith("Landmark:Storage:S3:CaPath needs TLS", StringComparison.Ordinal));
        Assert.True(good.Succeeded, string.Join("; ", good.Failures ?? []));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _files.Dispose();
    }
}
