using System.Collections.Frozen;

namespace Landmark.ServiceDefaults;

/// <summary>What a key may be allowed to do.</summary>
public static class ApiScopes
{
    /// <summary>Recognition and evaluation: <c>RecognitionService</c>, <c>EvaluationService</c> (evaluation only
    /// recognises labelled queries and computes GAP; it changes nothing).</summary>
    public const string Recognize = "recognize";

    /// <summary>The gallery: uploads, landmark names, catalog reads and stats (<c>IngestService</c> except
    /// <c>ImportDataset</c>).</summary>
    public const string Ingest = "ingest";

    /// <summary>Operations: server-side dataset import, training, the model registry (list, publish, rollback,
    /// import), and any method not in <see cref="MethodAccessPolicy.Scopes"/>.</summary>
    public const string Admin = "admin";

    /// <summary>Calls between the platform's services: <c>landmark.internal.v1.*</c> (embedder, retrieval).</summary>
    public const string Internal = "internal";

    /// <summary>The scopes of a key of the older <c>Landmark:Auth:ApiKeys</c> list.</summary>
    public static readonly IReadOnlyList<string> Public = [Recognize, Ingest, Admin];

    /// <summary>The scopes of an internal key.</summary>
    public static readonly IReadOnlyList<string> All = [Recognize, Ingest, Admin, Internal];

    public static bool IsKnown(string scope) => All.Contains(scope, StringComparer.Ordinal);
}

/// <summary>How a method is guarded.</summary>
public enum AccessKind
{
    /// <summary>No key needed (gRPC health: probes must work without credentials).</summary>
    Open,
    /// <summary>gRPC server reflection: open when <see cref="AuthOptions.ReflectionIsOpen"/>, else any valid key.</summary>
    Reflection,
    /// <summary>A key holding <see cref="MethodAccess.Scope"/>.</summary>
    Scoped,
}

public readonly record struct MethodAccess(AccessKind Kind, string? Scope);

/// <summary>
/// The one place that says which scope each gRPC method needs, keyed by the method's full name
/// (<c>/package.Service/Method</c>, as in <c>Grpc.Core.IMethod.FullName</c>). Methods not listed need
/// <see cref="ApiScopes.Internal"/> in <c>landmark.internal.*</c> and <see cref="ApiScopes.Admin"/> anywhere else, so
/// a new method is closed until someone decides otherwise.
/// </summary>
public static class MethodAccessPolicy
{
    public const string HealthService = "grpc.health.v1.Health";
    public const string ReflectionServicePrefix = "grpc.reflection.";
    public const string InternalPackagePrefix = "landmark.internal.";

    public static readonly FrozenDictionary<string, string> Scopes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["/landmark.v1.IngestService/UploadImage"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/UploadImageStream"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/GetImages"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/ListImages"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/GetStats"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/UpsertLandmarks"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/ListLandmarks"] = ApiScopes.Ingest,
        ["/landmark.v1.IngestService/ImportDataset"] = ApiScopes.Admin,

        ["/landmark.v1.RecognitionService/Recognize"] = ApiScopes.Recognize,
        ["/landmark.v1.RecognitionService/RecognizeStream"] = ApiScopes.Recognize,
        ["/landmark.v1.RecognitionService/FindSimilar"] = ApiScopes.Recognize,
        ["/landmark.v1.EvaluationService/Evaluate"] = ApiScopes.Recognize,
        ["/landmark.v1.EvaluationService/ComputeGap"] = ApiScopes.Recognize,

        ["/landmark.v1.TrainingService/StartTraining"] = ApiScopes.Admin,
        ["/landmark.v1.TrainingService/WatchTraining"] = ApiScopes.Admin,
        ["/landmark.v1.TrainingService/ListTrainingJobs"] = ApiScopes.Admin,
        ["/landmark.v1.TrainingService/CancelTraining"] = ApiScopes.Admin,

        ["/landmark.v1.ModelService/ListModels"] = ApiScopes.Admin,
        ["/landmark.v1.ModelService/GetLiveModel"] = ApiScopes.Admin,
        ["/landmark.v1.ModelService/PublishModel"] = ApiScopes.Admin,
        ["/landmark.v1.ModelService/RollbackModel"] = ApiScopes.Admin,
        ["/landmark.v1.ModelService/GetRollout"] = ApiScopes.Admin,
        ["/landmark.v1.ModelService/ImportModel"] = ApiScopes.Admin,

        ["/landmark.internal.v1.EmbedderService/Embed"] = ApiScopes.Internal,
        ["/landmark.internal.v1.RetrievalService/Search"] = ApiScopes.Internal,
        ["/landmark.internal.v1.RetrievalService/GetVector"] = ApiScopes.Internal,
        ["/landmark.internal.v1.RetrievalService/GetIndexStats"] = ApiScopes.Internal,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The guard of a method, from the service name and full method name of the endpoint that routing
    /// selected (never from the request path's text: routing matches paths case-insensitively).</summary>
    public static MethodAccess For(string serviceName, string fullMethodName)
    {
        if (string.Equals(serviceName, HealthService, StringComparison.Ordinal))
        {
            return new MethodAccess(AccessKind.Open, null);
        }
        if (serviceName.StartsWith(ReflectionServicePrefix, StringComparison.Ordinal))
        {
            return new MethodAccess(AccessKind.Reflection, null);
        }
        if (Scopes.TryGetValue(fullMethodName, out var scope))
        {
            return new MethodAccess(AccessKind.Scoped, scope);
        }
        return new MethodAccess(AccessKind.Scoped,
            serviceName.StartsWith(InternalPackagePrefix, StringComparison.Ordinal) ? ApiScopes.Internal : ApiScopes.Admin);
    }
}
