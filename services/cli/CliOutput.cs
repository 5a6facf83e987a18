using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;

namespace Landmark.Cli;

/// <summary>
/// Where a command writes. Without <c>--json</c>: the human text on stdout, as always. With <c>--json</c>: one JSON
/// document on stdout (the result; API messages in their proto JSON form, the same lowerCamelCase names as the JSON/HTTP
/// API, every field present), progress and notes on stderr, the human result lines not at all.
/// </summary>
public sealed class CliOutput(bool json)
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public bool Json { get; } = json;

    /// <summary>Progress and notes: stdout for people, stderr with <c>--json</c> (stdout holds only the document).</summary>
    public TextWriter Progress => Json ? Console.Error : Console.Out;

    /// <summary>A result line for people (nothing with <c>--json</c>).</summary>
    public void Line(string text)
    {
        if (!Json)
        {
            Console.WriteLine(text);
        }
    }

    /// <summary>The result document (only with <c>--json</c>).</summary>
    public void Result(JsonNode document)
    {
        if (Json)
        {
            Console.Out.WriteLine(document.ToJsonString());
        }
    }

    public void Result(IMessage message) => Result(Of(message));

    /// <summary>An API message in its proto JSON form.</summary>
    public static JsonNode Of(IMessage message) => JsonNode.Parse(Formatter.Format(message))!;

    /// <summary>A CLI record (camelCase property names).</summary>
    public static JsonNode OfRecord<T>(T value) => JsonSerializer.SerializeToNode(value, Web)!;

    /// <summary>A refusal, as the JSON/HTTP API writes it: the status code's name, the message and the ErrorInfo reason.</summary>
    public static JsonNode Error(Grpc.Core.RpcException error) => new JsonObject
    {
        ["code"] = error.StatusCode.ToString(),
        ["message"] = error.Status.Detail,
        ["reason"] = Landmark.Contracts.Api.ApiErrors.ErrorInfoOf(error)?.Reason ?? "",
    };
}
