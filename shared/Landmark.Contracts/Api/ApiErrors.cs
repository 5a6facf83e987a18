using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Landmark.Contracts.Api;

/// <summary>
/// Errors as <c>google.rpc.Status</c> (Google AIP-193): the gRPC status code, the human message, and details — an
/// <see cref="ErrorInfo"/> with a stable machine-readable <see cref="ErrorInfo.Reason"/> (UPPER_SNAKE_CASE, one of
/// <see cref="ErrorReasons"/>) in the <see cref="Domain"/>, plus a <see cref="BadRequest"/> naming the fields at fault for
/// invalid arguments. They travel in the <c>grpc-status-details-bin</c> trailer (<c>Grpc.StatusProto</c>) and, over
/// JSON/HTTP, as the <c>details</c> of the error body. Clients read them with <see cref="ErrorInfoOf"/> and
/// <see cref="BadRequestOf"/>.
/// </summary>
public static class ApiErrors
{
    /// <summary>The <see cref="ErrorInfo.Domain"/> of every error this platform raises.</summary>
    public const string Domain = "landmark.v1";

    /// <summary>An error with an <see cref="ErrorInfo"/> (and, with <paramref name="violations"/>, a
    /// <see cref="BadRequest"/>).</summary>
    public static RpcException Create(StatusCode code, string reason, string message, IReadOnlyDictionary<string, string>? metadata = null,
        params IEnumerable<(string Field, string Description)> violations)
    {
        var info = new ErrorInfo { Reason = reason, Domain = Domain };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            info.Metadata[key] = value;
        }
        var status = new Google.Rpc.Status { Code = (int)code, Message = message, Details = { Any.Pack(info) } };
        var badRequest = new BadRequest();
        badRequest.FieldViolations.AddRange(violations.Select(v => new BadRequest.Types.FieldViolation { Field = v.Field, Description = v.Description }));
        if (badRequest.FieldViolations.Count > 0)
        {
            status.Details.Add(Any.Pack(badRequest));
        }
        return status.ToRpcException();
    }

    /// <summary><c>INVALID_ARGUMENT</c> for one field: the message is the description.</summary>
    public static RpcException InvalidField(string reason, string field, string description, IReadOnlyDictionary<string, string>? metadata = null) =>
        Create(StatusCode.InvalidArgument, reason, description, metadata, (field, description));

    /// <summary>The <see cref="ErrorInfo"/> of an error raised by this platform (null for any other).</summary>
    public static ErrorInfo? ErrorInfoOf(RpcException error) => error.GetRpcStatus()?.GetDetail<ErrorInfo>();

    /// <summary>The fields at fault of an <c>INVALID_ARGUMENT</c> (null when the error names none).</summary>
    public static BadRequest? BadRequestOf(RpcException error) => error.GetRpcStatus()?.GetDetail<BadRequest>();
}

/// <summary>The stable <see cref="ErrorInfo.Reason"/> values (what a client branches on; the message is for people).</summary>
public static class ErrorReasons
{
    // The image cannot be used (the reason is IMAGE_ and the rejection code; the code is also in the metadata).
    public const string ImageEmpty = "IMAGE_EMPTY";
    public const string ImageUnsupportedFormat = "IMAGE_UNSUPPORTED_FORMAT";
    public const string ImageTruncated = "IMAGE_TRUNCATED";
    public const string ImageUndecodable = "IMAGE_UNDECODABLE";
    public const string ImageTooSmall = "IMAGE_TOO_SMALL";
    public const string ImageTooLarge = "IMAGE_TOO_LARGE";
    public const string ImageTooManyBytes = "IMAGE_TOO_MANY_BYTES";
    public const string ImageRejected = "IMAGE_REJECTED";
    /// <summary>Metadata key of the image rejection code ("truncated", "too_small", ...), as recorded in the catalog.</summary>
    public const string RejectionCodeKey = "rejection_code";

    public const string ImageMetadataInvalid = "IMAGE_METADATA_INVALID";
    public const string ImageNotIndexed = "IMAGE_NOT_INDEXED";
    public const string EmbedderOverloaded = "EMBEDDER_OVERLOADED";
    public const string LiveModelChanged = "LIVE_MODEL_CHANGED";
    public const string NoLiveModel = "NO_LIVE_MODEL";
    public const string ModelInvalid = "MODEL_INVALID";
    public const string ModelTooLarge = "MODEL_TOO_LARGE";
    public const string ModelNotFound = "MODEL_NOT_FOUND";
    public const string ModelNotServable = "MODEL_NOT_SERVABLE";
    public const string TrainingJobNotFound = "TRAINING_JOB_NOT_FOUND";
    public const string TrainingOptionsInvalid = "TRAINING_OPTIONS_INVALID";
    public const string DatasetImportDisabled = "DATASET_IMPORT_DISABLED";
    public const string DatasetRefused = "DATASET_REFUSED";
    public const string DatasetUnreadable = "DATASET_UNREADABLE";
    public const string PageTokenInvalid = "PAGE_TOKEN_INVALID";
    public const string ArgumentInvalid = "ARGUMENT_INVALID";
    public const string ApiKeyMissing = "API_KEY_MISSING";
    public const string ApiKeyInvalid = "API_KEY_INVALID";
    public const string ScopeMissing = "API_KEY_SCOPE_MISSING";

    /// <summary>The reason of an image rejection code (<c>Landmark.Imaging.RejectionCodes</c>).</summary>
    public static string ForRejection(string code) => code switch
    {
        "empty" => ImageEmpty,
        "unsupported_format" => ImageUnsupportedFormat,
        "truncated" => ImageTruncated,
        "corrupt" => ImageUndecodable,
        "too_small" => ImageTooSmall,
        "too_large" => ImageTooLarge,
        "too_many_bytes" => ImageTooManyBytes,
        _ => ImageRejected,
    };
}
