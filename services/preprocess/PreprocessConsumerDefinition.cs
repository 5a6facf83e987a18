using Landmark.Contracts.Messages;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Preprocess;

/// <summary>The preprocess endpoint: its queue, how many images it decodes at once, how far the broker delivers ahead
/// and, on RabbitMQ, a quorum queue whose delivery limit dead-letters into the error queue.</summary>
public sealed class PreprocessConsumerDefinition : ConsumerDefinition<PreprocessConsumer>
{
    private readonly PreprocessOptions _options;

    public PreprocessConsumerDefinition(IOptions<PreprocessOptions> options)
    {
        _options = options.Value;
        EndpointName = QueueNames.Preprocess;
        ConcurrentMessageLimit = _options.ConcurrencyLimit;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PreprocessConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Set here as well as through the definition: the shared messaging callback sets every endpoint's prefetch.
        endpointConfigurator.ConcurrentMessageLimit = _options.ConcurrencyLimit;
        endpointConfigurator.PrefetchCount = _options.EffectivePrefetchCount;
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit && _options.QuorumQueue)
        {
            rabbit.SetQuorumQueue();
            if (_options.DeliveryLimit > 0)
            {
                // The consumer rejects at DeliveryLimit; the broker drops to the error queue one delivery later, in
                // case the rejection itself cannot run (x-death then says "delivery_limit").
                rabbit.SetQueueArgument("x-delivery-limit", _options.DeliveryLimit + 1);
                var error = $"{QueueNames.Preprocess}_error";
                rabbit.BindDeadLetterQueue(error, error);
            }
        }
    }
}
