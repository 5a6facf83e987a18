using System.Net;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi.Models;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Landmark.ServiceDefaults;

/// <summary>
/// What every Landmark service shares (after dotnet/eShop's ServiceDefaults): Kestrel endpoints,
/// gRPC with health checking and reflection, OpenTelemetry, structured logs, validated options.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Tag of health checks that gate readiness (dependencies such as storage and the broker).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Prefix of every meter and activity source of the platform.</summary>
    public const string TelemetryPrefix = "Landmark";

    /// <summary>Name of the OpenAPI document of the JSON/HTTP API, served at <see cref="OpenApiPath"/>.</summary>
    public const string OpenApiDocumentName = "v1";
    public const string OpenApiPath = "/openapi/v1.json";

    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddOptions<HostingOptions>().Bind(builder.Configuration.GetSection(HostingOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ServiceEndpointsOptions>().Bind(builder.Configuration.GetSection(ServiceEndpointsOptions.SectionName))
            .ValidateDataAnnotations()
            .Validate(o => o.InvalidAddresses().Count == 0, "Landmark:Endpoints: every address must be http(s)://host:port, dns:///host:port or static:///host1:port1,host2:port2")
            .ValidateOnStart();
        builder.Services.AddOptions<AuthOptions>().Bind(builder.Configuration.GetSection(AuthOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        builder.Services.TryAddSingleton<ApiKeyRing>();
        builder.Services.AddOptions<TlsOptions>().Bind(builder.Configuration.GetSection(TlsOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<TlsCertificates>();

        var hosting = builder.Configuration.GetSection(HostingOptions.SectionName).Get<HostingOptions>() ?? new HostingOptions();
        var tls = builder.Configuration.GetSection(TlsOptions.SectionName).Get<TlsOptions>() ?? new TlsOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var address = hosting.ListenOnAnyAddress ? IPAddress.Any : IPAddress.Loopback;
            kestrel.Listen(address, hosting.GrpcPort, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                if (tls.Enabled)
                {
                    // Options per handshake: the certificate (and CA) currently on disk, so rotations need no restart.
                    var certificates = kestrel.ApplicationServices.GetRequiredService<TlsCertificates>();
                    o.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(certificates.ServerOptions()),
                    });
                }
            });
            if (hosting.HttpPort > 0)
            {
                kestrel.Listen(address, hosting.HttpPort, o => o.Protocols = HttpProtocols.Http1);
            }
            // A backstop for bodies of any kind (JSON/HTTP included); gRPC's own per-message caps below are the real limits.
            kestrel.Limits.MaxRequestBodySize = Math.Max(hosting.MaxReceiveMessageBytes, hosting.MaxInternalMessageBytes);
        });

        builder.AddConsoleLogs();

        builder.Services.AddSingleton<ApiKeyAuthorizer>();
        builder.Services.AddSingleton<ApiKeyInterceptor>();
        builder.Services.AddValidatedOptions<ConcurrencyOptions>(builder.Configuration, ConcurrencyOptions.SectionName);
        builder.Services.AddConcurrencyLimits();
        builder.Services.AddGrpc(o =>
        {
            // The public cap; the internal services raise theirs (AddInternalGrpcService).
            o.MaxReceiveMessageSize = hosting.MaxReceiveMessageBytes;
            o.MaxSendMessageSize = hosting.MaxInternalMessageBytes;
            o.EnableDetailedErrors = builder.Environment.IsDevelopment();
            o.Interceptors.Add<ApiKeyInterceptor>();
        })
        // The JSON/HTTP face: each unary RPC with a google.api.http route is also served as JSON over HTTP/1.1 and
        // HTTP/2 (same service code, same interceptors: the API key check applies to it alike). Errors keep their
        // google.rpc.Status details (ErrorInfo, BadRequest) in the JSON body, so the registry knows those types.
        .AddJsonTranscoding(o => o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(
            Google.Rpc.ErrorInfo.Descriptor, Google.Rpc.BadRequest.Descriptor));
        builder.Services.AddGrpcSwagger();
        builder.Services.AddSwaggerGen(o =>
        {
            // Nested proto enums share short names (TrainingJob.State, RolloutStatus.State): schema ids by full name.
            o.CustomSchemaIds(type => type.FullName!.Replace('+', '.'));
            o.SwaggerDoc(OpenApiDocumentName, new OpenApiInfo
            {
                Title = "Landmark recognition API",
                Version = OpenApiDocumentName,
                Description = "The JSON/HTTP face of the public gRPC API (landmark.v1), by gRPC JSON transcoding. Send the API key in the x-api-key header.",
            });
            var apiKey = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = AuthOptions.ApiKeyHeader,
                Description = "An API key holding the method's scope (recognize, ingest or admin), when Landmark:Auth:Required is set.",
                Reference = new OpenApiReference { Type = ReferenceType.SecurityScheme, Id = "apiKey" },
            };
            o.AddSecurityDefinition("apiKey", apiKey);
            o.AddSecurityRequirement(new OpenApiSecurityRequirement { [apiKey] = [] });
            // The proto comments (the contracts' XML documentation) become the operations' and schemas' descriptions.
            var comments = Path.Combine(AppContext.BaseDirectory, "Landmark.Contracts.xml");
            if (File.Exists(comments))
            {
                o.IncludeXmlComments(comments);
                o.IncludeGrpcXmlComments(comments, includeControllerXmlComments: true);
            }
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [ReadyTag]);

        builder.AddOpenTelemetry(serviceName);
        return builder;
    }

    /// <summary>Second-based bucket boundaries of duration histograms (OpenTelemetry's HTTP duration advice).</summary>
    public static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];

    /// <summary>Bucket boundaries of the time messages wait in a queue: seconds to an hour.</summary>
    public static readonly double[] QueueWaitBuckets = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>Bucket boundaries of ratios between 0 and 1 (batch fill).</summary>
    public static readonly double[] RatioBuckets = [0.0625, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1];

    /// <summary>
    /// Console logs in the format <c>Logging:Console:FormatterName</c> names: <c>simple</c> (the default: one text line,
    /// for a terminal and <c>make run</c>) or <c>json</c> (one JSON object per line, for log collectors; the chart's
    /// default). Both carry the trace and span ids of the current activity (as a scope in JSON, so a log line joins its
    /// trace); the formatters' own settings can still be set under <c>Logging:Console:FormatterOptions</c>.
    /// </summary>
    public static WebApplicationBuilder AddConsoleLogs(this WebApplicationBuilder builder)
    {
        // The framework's per-request lines (ASP.NET Core hosting and routing, HttpClient handlers: ~36 lines per
        // recognition over four internal hops) are off by default, as in the ASP.NET Core templates; the lowest-priority
        // source, so Logging:LogLevel in any configuration still turns them back on.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
            },
        });
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);
        builder.Logging.AddConsole();
        // Without a formatter name the console logger falls back to its obsolete options and ignores the ones below.
        builder.Services.PostConfigure<ConsoleLoggerOptions>(o => o.FormatterName ??= ConsoleFormatterNames.Simple);
        builder.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat ??= "HH:mm:ss.fff ";
        });
        builder.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat ??= "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
        });
        return builder;
    }

    private static void AddOpenTelemetry(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var otel = builder.Services.AddOpenTelemetry()
            // Resource: service.name and service.version here; OTEL_RESOURCE_ATTRIBUTES adds what the deployment knows
            // (the chart: service.version = image tag, deployment.environment, k8s.pod.name, k8s.node.name and
            // k8s.namespace.name from the downward API), and wins over these defaults.
            .ConfigureResource(r => r
                .AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } n ? n : $"landmark-{serviceName}",
                    serviceVersion: ServiceVersion(), serviceInstanceId: Environment.GetEnvironmentVariable("K8S_POD_NAME") is { Length: > 0 } pod ? pod : Environment.MachineName)
                .AddEnvironmentVariableDetector())
            .WithMetrics(m => m
                .AddView(instrument => instrument.Meter.Name.StartsWith(TelemetryPrefix, StringComparison.Ordinal) && instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal)
                    ? instrument.Name switch
                    {
                        "landmark.messaging.queue_wait.duration" => new ExplicitBucketHistogramConfiguration { Boundaries = QueueWaitBuckets },
                        _ when instrument.Unit == "s" => new ExplicitBucketHistogramConfiguration { Boundaries = DurationBuckets },
                        _ when instrument.Name.EndsWith("ratio", StringComparison.Ordinal) => new ExplicitBucketHistogramConfiguration { Boundaries = RatioBuckets },
                        _ => null,
                    }
                    : null)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetryPrefix + ".*", "MassTransit")
                .AddPrometheusExporter())
            .WithTracing(t => t
                .AddAspNetCoreInstrumentation()
                .AddGrpcClientInstrumentation()
                .AddHttpClientInstrumentation()
                .AddSource(TelemetryPrefix + ".*", "MassTransit"));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }
    }

    /// <summary>The entry assembly's informational version without the source-revision suffix (1.2.0+abc → 1.2.0).</summary>
    private static string? ServiceVersion() =>
        System.Reflection.Assembly.GetEntryAssembly()?.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0];

    /// <summary>Maps gRPC health, reflection, and the HTTP endpoints <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>,
    /// <c>/openapi/v1.json</c>; and puts in front of every endpoint (after routing, which the host adds first) the API key
    /// check from the headers (<see cref="ApiKeyMiddleware"/>) and then the concurrency limiter
    /// (<see cref="ConcurrencyOptions"/>): a call without a valid key never waits for a permit, and neither reads its body.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseRateLimiter();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag) });
        app.MapPrometheusScrapingEndpoint("/metrics");
        // The OpenAPI document of the JSON/HTTP routes (it describes the public API only, as the protos in the repository do).
        app.MapSwagger("/openapi/{documentName}.json");
        return app;
    }

    /// <summary>Marks <typeparamref name="TService"/> as an internal gRPC service: it accepts messages up to
    /// <see cref="HostingOptions.MaxInternalMessageBytes"/> instead of the public <see cref="HostingOptions.MaxReceiveMessageBytes"/>.</summary>
    public static IServiceCollection AddInternalGrpcService<TService>(this IServiceCollection services)
        where TService : class
    {
        services.AddOptions<GrpcServiceOptions<TService>>()
            .Configure<IOptions<HostingOptions>>((o, hosting) => o.MaxReceiveMessageSize = hosting.Value.MaxInternalMessageBytes);
        return services;
    }

    /// <summary>Binds and validates an options class at start-up (DataAnnotations).</summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, IConfiguration configuration, string section)
        where T : class
    {
        return services.AddOptions<T>().Bind(configuration.GetSection(section)).ValidateDataAnnotations().ValidateOnStart();
    }
}
