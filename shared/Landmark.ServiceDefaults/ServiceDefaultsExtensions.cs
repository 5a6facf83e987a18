using System.Net;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<AuthOptions>().Bind(builder.Configuration.GetSection(AuthOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        builder.Services.TryAddSingleton<ApiKeyRing>();

        var hosting = builder.Configuration.GetSection(HostingOptions.SectionName).Get<HostingOptions>() ?? new HostingOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var address = hosting.ListenOnAnyAddress ? IPAddress.Any : IPAddress.Loopback;
            kestrel.Listen(address, hosting.GrpcPort, o => o.Protocols = HttpProtocols.Http2);
            if (hosting.HttpPort > 0)
            {
                kestrel.Listen(address, hosting.HttpPort, o => o.Protocols = HttpProtocols.Http1);
            }
            kestrel.Limits.MaxRequestBodySize = hosting.MaxReceiveMessageBytes;
        });

        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });

        builder.Services.AddSingleton<ApiKeyInterceptor>();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = hosting.MaxReceiveMessageBytes;
            o.MaxSendMessageSize = hosting.MaxReceiveMessageBytes;
            o.EnableDetailedErrors = builder.Environment.IsDevelopment();
            o.Interceptors.Add<ApiKeyInterceptor>();
        })
        // The JSON/HTTP face: each unary RPC with a google.api.http route is also served as JSON over HTTP/1.1 and
        // HTTP/2 (same service code, same interceptors: the API key check applies to it alike).
        .AddJsonTranscoding();
        builder.Services.AddGrpcSwagger();
        builder.Services.AddSwaggerGen(o =>
        {
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

    private static void AddOpenTelemetry(this WebApplicationBuilder builder, string serviceName)
    {
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } n ? n : $"landmark-{serviceName}"))
            .WithMetrics(m => m
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

    /// <summary>Maps gRPC health, reflection, and the HTTP endpoints <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>,
    /// <c>/openapi/v1.json</c>.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag) });
        app.MapPrometheusScrapingEndpoint("/metrics");
        // The OpenAPI document of the JSON/HTTP routes (it describes the public API only, as the protos in the repository do).
        app.MapSwagger("/openapi/{documentName}.json");
        return app;
    }

    /// <summary>Binds and validates an options class at start-up (DataAnnotations).</summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, IConfiguration configuration, string section)
        where T : class
    {
        return services.AddOptions<T>().Bind(configuration.GetSection(section)).ValidateDataAnnotations().ValidateOnStart();
    }
}
