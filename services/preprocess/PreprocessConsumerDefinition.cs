using Landmark.Contracts.Messages;
using Landmark.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Preprocess;

/// <summary>The preprocess endpoint: its queue, how many images it decodes at once and how far the broker delivers
/// ahead (defaults from <see cref="PreprocessOptions"/>; <c>Landmark:Messaging:Consumers:PreprocessConsumer</c>
/// overrides them as for every consumer), and, on RabbitMQ, a quorum queue whose delivery limit dead-letters into
/// the error queue.</summary>
public sealed class PreprocessConsumerDefinition : LandmarkConsumerDefinition<PreprocessConsumer>
{
    private readonly PreprocessOptions _options;

    public PreprocessConsumerDefinition(IOptions<PreprocessOptions> options, ConsumerPolicies policies)
        : base(policies.For<PreprocessConsumer>(options.Value.ConcurrencyLimit, options.Value.EffectivePrefetchCount))
    {
        _options = options.Value;
        EndpointName = QueueNames.Preprocess;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PreprocessConsumer> consumerConfigurator, IRegistrationContext context)
    {
        base.ConfigureConsumer(endpointConfigurator, consumerConfigurator, context);
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit && _options.QuorumQueue)
        {
            rabbit.SetQuorumQueue();
            if (_options.DeliveryLimit > 0)
            {
                // The consumer rejects at DeliveryLimit; the broker drops to the error queue one delivery later, in
                // case the rejection itself cannot run (x-death then says "delivery_limit").
                rabbit.SetQueueArgument("x-delivery-limit", _options.DeliveryLimit + 1);
                var error = $"{QueueNames.Preprocess}{QueueNames.ErrorSuffix}";
                rabbit.BindDeadLetterQueue(error, error);
            }
        }
    }
}
