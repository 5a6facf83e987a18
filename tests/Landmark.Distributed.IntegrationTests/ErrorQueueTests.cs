using System.Text;
using Landmark.Contracts.Messages;
using Landmark.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using Xunit;

namespace Landmark.Distributed.IntegrationTests;

public sealed class ErrorQueueTests(DistributedPlatform platform) : IClassFixture<DistributedPlatform>
{
    [Fact]
    public async Task A_message_that_keeps_failing_lands_in_the_error_queue_with_the_failure_reason()
    {
        var imageId = new string('e', 64);
        var bus = platform.Hosts[0].Services.GetRequiredService<IBus>();
        // The variant does not exist: the embed consumer throws, retries, then gives up.
        await bus.Publish(new ImagePreprocessed(imageId, GalleryRole.Landmark, "1", "ghost.jpg", null, "Jpeg", 10, 10,
            [new StoredVariant("embed", $"{imageId}/embed.jpg", 10, 10, 100)]));

        var factory = new ConnectionFactory
        {
            HostName = platform.Broker.Host,
            Port = platform.Broker.Port,
            UserName = platform.Broker.User,
            Password = platform.Broker.Password,
            VirtualHost = platform.VirtualHost,
        };
        await using var connection = await factory.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        var errorQueue = QueueNames.Embed + QueueNames.ErrorSuffix;
        BasicGetResult? message = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (message is null && DateTime.UtcNow < deadline)
        {
            try
            {
                message = await channel.BasicGetAsync(errorQueue, autoAck: true);
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                // The error queue is declared on the first fault; a failed get closes the channel.
                await channel.DisposeAsync();
                channel = await connection.CreateChannelAsync();
            }
            if (message is null)
            {
                await Task.Delay(250);
            }
        }
        await channel.DisposeAsync();
        Assert.True(message is not null, "no message in the error queue; queues: " +
            string.Join(", ", platform.Broker.ListQueues(platform.VirtualHost).Select(kv => $"{kv.Key}={kv.Value}")));
        var headers = message!.BasicProperties.Headers!;
        var reason = Encoding.UTF8.GetString((byte[])headers["MT-Fault-Message"]!);
        Assert.Contains("does not exist", reason, StringComparison.Ordinal);
        Assert.Contains(imageId, Encoding.UTF8.GetString(message.Body.Span), StringComparison.Ordinal);
    }
}
