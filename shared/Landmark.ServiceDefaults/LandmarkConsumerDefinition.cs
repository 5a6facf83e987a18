using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// The base of every consumer's definition (MassTransit's samples: the definition owns the endpoint). A subclass names
/// the endpoint (a <c>QueueNames</c> constant) and passes its <see cref="ConsumerPolicy"/>; this class applies it:
/// delayed redelivery when enabled, exponential retry (except for the exceptions <see cref="ConfigureRetry"/> ignores:
/// those go to <c>&lt;queue&gt;_error</c> at once), prefetch and concurrency.
/// </summary>
public abstract class LandmarkConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    protected LandmarkConsumerDefinition(ConsumerPolicy policy)
    {
        Policy = policy;
        ConcurrentMessageLimit = policy.ConcurrencyLimit;
    }

    public ConsumerPolicy Policy { get; }

    /// <summary>Exceptions retrying cannot fix (<c>r.Ignore&lt;T&gt;()</c>); none by default.</summary>
    protected virtual void ConfigureRetry(IRetryConfigurator retry)
    {
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        if (Policy.DelayedRedelivery)
        {
            endpointConfigurator.UseDelayedRedelivery(r => r.Intervals(TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5)));
        }
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Exponential(Policy.RetryLimit, Policy.RetryInitialDelay, Policy.RetryInitialDelay * 64, Policy.RetryInitialDelay);
            ConfigureRetry(r);
        });
        endpointConfigurator.PrefetchCount = Policy.PrefetchCount;
        if (Policy.ConcurrencyLimit is { } limit)
        {
            endpointConfigurator.ConcurrentMessageLimit = limit;
        }
    }
}

public static class ConsumerRegistrationExtensions
{
    /// <summary>Registers <typeparamref name="TConsumer"/> with its definition, and its settings
    /// (<see cref="ConsumerOptions.SectionFor{TConsumer}"/>) validated at start-up.</summary>
    public static IConsumerRegistrationConfigurator<TConsumer> AddLandmarkConsumer<TConsumer, TDefinition>(this IBusRegistrationConfigurator bus)
        where TConsumer : class, IConsumer
        where TDefinition : LandmarkConsumerDefinition<TConsumer>
    {
        bus.TryAddSingleton<ConsumerPolicies>();
        bus.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsumerOptions>, ConsumerOptionsValidator>());
        bus.AddOptions<ConsumerOptions>(ConsumerOptions.NameOf<TConsumer>())
            .BindConfiguration(ConsumerOptions.SectionFor<TConsumer>())
            .ValidateOnStart();
        return bus.AddConsumer<TConsumer, TDefinition>();
    }
}
