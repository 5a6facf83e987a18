using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Landmark.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Landmark.Storage.Tests;

/// <summary>A tiny HTTP server on loopback that answers S3 requests with whatever a test scripts, and records them.</summary>
public sealed class FakeS3Server : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeS3Server(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary><c>127.0.0.1:port</c> (<c>https://127.0.0.1:port</c> with TLS).</summary>
    public string Endpoint { get; }

    /// <summary>"METHOD /path" of every request, in arrival order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Starts the server; with <paramref name="certificate"/> it speaks HTTPS and <see cref="Endpoint"/> is
    /// <c>https://127.0.0.1:port</c>.</summary>
    public static async Task<FakeS3Server> StartAsync(Func<HttpContext, int, Task> respond, X509Certificate2? certificate = null)
    {
        var port = TestPaths.FreeTcpPort();
        var builder = WebApplication.CreateSlimBuilder();
        if (certificate is null)
        {
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        }
        else
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.UseHttps(certificate)));
        }
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeS3Server(app, certificate is null ? $"127.0.0.1:{port}" : $"https://127.0.0.1:{port}");
        var count = 0;
        app.Run(async context =>
        {
            server.Requests.Enqueue($"{context.Request.Method} {context.Request.Path}");
            // Drain the body, as a real server does.
            await context.Request.Body.CopyToAsync(Stream.Null);
            await respond(context, Interlocked.Increment(ref count));
        });
        await app.StartAsync();
        return server;
    }

    /// <summary>Writes an S3 error document; <paramref name="message"/> empty like Ceph radosgw sends it.</summary>
    public static async Task Error(HttpContext context, int status, string code, string message = "")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/xml";
        await context.Response.WriteAsync(
            $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>req-1</RequestId></Error>");
    }

    /// <summary>Answers like S3 for an existing object of <paramref name="size"/> bytes (HEAD and PUT).</summary>
    public static Task Ok(HttpContext context, long size = 1)
    {
        context.Response.StatusCode = 200;
        context.Response.Headers.ETag = "\"0123456789abcdef0123456789abcdef\"";
        context.Response.Headers.LastModified = "Mon, 24 Nov 2025 10:00:00 GMT";
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = HttpMethods.IsHead(context.Request.Method) ? size : 0;
        return Task.CompletedTask;
    }

    /// <summary>True for a request on the bucket itself (path "/bucket").</summary>
    public static bool IsBucketRequest(HttpContext context) =>
        context.Request.Path.Value!.Trim('/').Split('/').Length == 1;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
