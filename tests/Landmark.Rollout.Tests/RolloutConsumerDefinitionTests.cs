using Landmark.ServiceDefaults;
using Landmark.Trainer;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Rollout.Tests;

public class RolloutConsumerDefinitionTests
{
    [Fact]
    public void The_rollout_consumer_handles_one_message_at_a_time_by_default()
    {
        using var services = Build(new Dictionary<string, string?>());
        var definition = ActivatorUtilities.CreateInstance<RolloutConsumerDefinition>(services);
        Assert.Equal(1, definition.Policy.ConcurrencyLimit);
        Assert.Equal(1, definition.ConcurrentMessageLimit);
    }

    [Fact]
    public void A_configured_concurrency_other_than_one_for_the_rollout_consumer_fails_validation()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            [$"{ConsumerOptions.SectionFor<RolloutConsumer>()}:ConcurrencyLimit"] = "4",
        });
        var error = Assert.Throws<OptionsValidationException>(() =>
            services.GetRequiredService<IOptionsMonitor<ConsumerOptions>>().Get(ConsumerOptions.NameOf<RolloutConsumer>()));
        Assert.Contains("one message at a time", error.Message);
    }

    [Fact]
    public void Configured_retry_and_prefetch_of_the_rollout_consumer_replace_the_shared_defaults()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            [$"{ConsumerOptions.SectionFor<RolloutConsumer>()}:RetryLimit"] = "2",
            [$"{ConsumerOptions.SectionFor<RolloutConsumer>()}:PrefetchCount"] = "4",
            [$"{MessagingOptions.SectionName}:RetryInitialDelayMs"] = "50",
        });
        var policy = ActivatorUtilities.CreateInstance<RolloutConsumerDefinition>(services).Policy;
        Assert.Equal(2, policy.RetryLimit);
        Assert.Equal(4, policy.PrefetchCount);
        Assert.Equal(TimeSpan.FromMilliseconds(50), policy.RetryInitialDelay);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddOptions<MessagingOptions>().Bind(configuration.GetSection(MessagingOptions.SectionName));
        services.AddMassTransit(TrainerModule.AddConsumers);
        return services.BuildServiceProvider();
    }
}
