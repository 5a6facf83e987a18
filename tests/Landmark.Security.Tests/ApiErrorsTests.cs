using Grpc.Core;
using Landmark.Contracts.Api;
using Landmark.Imaging;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>Errors as google.rpc.Status: what a client reads back from the trailer a server writes.</summary>
public sealed class ApiErrorsTests
{
    /// <summary>The status a client sees: the server's exception's trailers, as a client's would carry them.</summary>
    private static RpcException AsReceived(RpcException sent) => new(sent.Status, sent.Trailers);

    [Fact]
    public void An_invalid_field_carries_the_message_an_error_info_and_the_field_violation()
    {
        var error = AsReceived(ApiErrors.InvalidField(ErrorReasons.ArgumentInvalid, "top_k", "top_k must be between 1 and 1000"));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("top_k must be between 1 and 1000", error.Status.Detail);
        var info = ApiErrors.ErrorInfoOf(error)!;
        Assert.Equal((ErrorReasons.ArgumentInvalid, ApiErrors.Domain), (info.Reason, info.Domain));
        var violation = Assert.Single(ApiErrors.BadRequestOf(error)!.FieldViolations);
        Assert.Equal(("top_k", "top_k must be between 1 and 1000"), (violation.Field, violation.Description));
        Assert.Equal((int)StatusCode.InvalidArgument, error.GetRpcStatus()!.Code);
    }

    [Fact]
    public void An_error_without_violations_has_no_bad_request_and_keeps_its_metadata()
    {
        var error = AsReceived(ApiErrors.Create(StatusCode.ResourceExhausted, ErrorReasons.EmbedderOverloaded, "queue full",
            new Dictionary<string, string> { ["queue"] = "embed" }));
        Assert.Null(ApiErrors.BadRequestOf(error));
        Assert.Equal("embed", ApiErrors.ErrorInfoOf(error)!.Metadata["queue"]);
    }

    [Fact]
    public void An_error_from_elsewhere_has_no_error_info() =>
        Assert.Null(ApiErrors.ErrorInfoOf(new RpcException(new Grpc.Core.Status(StatusCode.Internal, "boom"))));

    [Theory]
    [InlineData(RejectionCodes.Empty, "IMAGE_EMPTY")]
    [InlineData(RejectionCodes.UnsupportedFormat, "IMAGE_UNSUPPORTED_FORMAT")]
    [InlineData(RejectionCodes.Truncated, "IMAGE_TRUNCATED")]
    [InlineData(RejectionCodes.Corrupt, "IMAGE_UNDECODABLE")]
    [InlineData(RejectionCodes.TooSmall, "IMAGE_TOO_SMALL")]
    [InlineData(RejectionCodes.TooLarge, "IMAGE_TOO_LARGE")]
    [InlineData(RejectionCodes.TooManyBytes, "IMAGE_TOO_MANY_BYTES")]
    [InlineData("something_new", "IMAGE_REJECTED")]
    public void Every_image_rejection_code_has_its_own_stable_reason(string code, string reason) =>
        Assert.Equal(reason, ErrorReasons.ForRejection(code));

    [Fact]
    public void Every_rejection_code_constant_is_mapped()
    {
        var codes = typeof(RejectionCodes).GetFields().Select(f => (string)f.GetValue(null)!).ToList();
        Assert.NotEmpty(codes);
        Assert.All(codes, c => Assert.NotEqual(ErrorReasons.ImageRejected, ErrorReasons.ForRejection(c)));
    }

    [Fact]
    public void Reasons_are_upper_snake_case()
    {
        var reasons = typeof(ErrorReasons).GetFields().Where(f => f.IsLiteral && f.Name != nameof(ErrorReasons.RejectionCodeKey))
            .Select(f => (string)f.GetValue(null)!).ToList();
        Assert.All(reasons, r => Assert.Matches("^[A-Z][A-Z0-9_]*[A-Z0-9]$", r));
        Assert.Equal(reasons.Count, reasons.Distinct().Count());
    }
}
