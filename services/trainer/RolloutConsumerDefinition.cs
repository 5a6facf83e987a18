using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Trainer;

/// <summary>The roll-out bookkeeping endpoint (<see cref="QueueNames.ModelUpdates"/>): one message at a time, so
/// progress and activation never interleave (not a tuning knob: <see cref="RolloutConsumerOptionsValidator"/> refuses
/// another value). A report about a model the registry does not hold is not retried.</summary>
public sealed class RolloutConsumerDefinition : LandmarkConsumerDefinition<RolloutConsumer>
{
    public const int ConcurrencyLimitRequired = 1;

    public RolloutConsumerDefinition(ConsumerPolicies policies) : base(policies.For<RolloutConsumer>(ConcurrencyLimitRequired)) =>
        EndpointName = QueueNames.ModelUpdates;

    protected override void ConfigureRetry(IRetryConfigurator retry) => retry.Ignore<ModelNotRegisteredException>();
}

/// <summary>Refuses a configured concurrency other than 1 for <see cref="RolloutConsumer"/> at start-up.</summary>
public sealed class RolloutConsumerOptionsValidator : IValidateOptions<ConsumerOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsumerOptions options) =>
        name == ConsumerOptions.NameOf<RolloutConsumer>() && options.ConcurrencyLimit is { } limit && limit != RolloutConsumerDefinition.ConcurrencyLimitRequired
            ? ValidateOptionsResult.Fail($"{ConsumerOptions.SectionFor<RolloutConsumer>()}:ConcurrencyLimit is {limit}: the roll-out bookkeeping " +
                $"handles one message at a time (progress and activation must not interleave); leave it unset or {RolloutConsumerDefinition.ConcurrencyLimitRequired}.")
            : ValidateOptionsResult.Skip;
}
