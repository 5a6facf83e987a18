using Landmark.Contracts.Api.V1;

namespace Landmark.Trainer;

/// <summary>Rolls a registered model out (re-embeds the gallery in the background, then switches the live model and
/// the index alias together). Training jobs that publish call it when their model is registered.</summary>
public interface IModelRollout
{
    Task<RolloutStatus> PublishAsync(string version, CancellationToken cancellationToken);
}
