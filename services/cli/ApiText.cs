using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;

namespace Landmark.Cli;

/// <summary>The words the CLI prints for the API's enums and times (lower-case states, the registry's model kinds, ISO 8601 round-trip times).</summary>
public static class ApiText
{
    public static string Of(TrainingJob.Types.State state) => state.ToString().ToLowerInvariant();

    public static string Of(RolloutStatus.Types.State state) => state.ToString().ToLowerInvariant();

    /// <summary>The model kind as the registry names it ("pretrained", "trained", "imported", "baseline-descriptor").</summary>
    public static string Of(ModelKind kind) => ModelKinds.Text(kind);

    /// <summary>The time as ISO 8601 ("O"); empty when unset.</summary>
    public static string Of(Timestamp? time) => time?.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) ?? "";
}
