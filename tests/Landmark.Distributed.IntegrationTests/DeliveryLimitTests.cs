using System.Globalization;
using System.Text;
using System.Text.Json;
using Landmark.Contracts.Messages;
using Landmark.Preprocess;
using Landmark.Testing;
using Microsoft.AspNetCore.Builder;
using RabbitMQ.Client;
using Xunit;

namespace Landmark.Distributed.IntegrationTests;

/// <summary>
/// A message whose processing kills the preprocess consumer comes back from the quorum queue with
/// <c>x-delivery-count</c>; once it has been delivered <c>DeliveryLimit</c> times it is rejected with a reason
/// (<c>ImageRejected</c>, code <c>delivery_limit</c>) instead of being decoded again. The dying consumer is played by
/// a raw AMQP channel that takes the message without acknowledging it and is closed.
/// </summary>
public sealed class DeliveryLimitTests : IAsyncLifetime
{
    private readonly TempDirectory _data = TestPaths.CreateTempDirectory("landmark-delivery-limit");
    private RabbitMqBroker _broker = null!;
    private string _vhost = "/";

    public Task InitializeAsync()
    {
        _broker = RabbitMqBroker.Ensure();
        _vhost = _broker.CreateVirtualHost();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (_vhost != "/")
        {
            _broker.DeleteVirtualHost(_vhost);
        }
        _data.Dispose();
        return Task.CompletedTask;
    }

    private WebApplication Preprocess() => PreprocessHost.Build(
    [
        string.Create(CultureInfo.InvariantCulture, $"--Landmark:Hosting:GrpcPort={TestPaths.FreeTcpPort()}"),
        "--Landmark:Hosting:HttpPort=0",
        "--Landmark:Hosting:ListenOnAnyAddress=false",
        "--Landmark:Messaging:Transport=RabbitMq",
        $"--Landmark:Messaging:RabbitMq:Host={_broker.Host}",
        string.Create(CultureInfo.InvariantCulture, $"--Landmark:Messaging:RabbitMq:Port={_broker.Port}"),
        $"--Landmark:Messaging:RabbitMq:VirtualHost={_vhost}",
        $"--Landmark:Messaging:RabbitMq:Username={_broker.User}",
        $"--Landmark:Messaging:RabbitMq:Password={_broker.Password}",
        "--Landmark:Preprocess:DeliveryLimit=3",
        "--Landmark:Storage:Provider=Local",
        $"--Landmark:Storage:Local:Root={Path.Combine(_data.Path, "objects")}",
        "--Logging:LogLevel:Default=Warning",
    ]);

    [Fact]
    public async Task A_message_that_killed_the_consumer_three_times_is_rejected_with_a_reason_not_decoded_again()
    {
        // The preprocess host declares its quorum queue (x-delivery-limit 4, dead-lettered to the error queue), then stops.
        // Each host starts on a flow of its own: MassTransit keeps its log context in an AsyncLocal, and a context
        // captured here would hand the second host the first one's disposed logger factory.
        await Task.Run(async () =>
        {
            await using var first = Preprocess();
            await first.StartAsync();
            await first.StopAsync();
        });

        var factory = new ConnectionFactory
        {
            HostName = _broker.Host,
            Port = _broker.Port,
            UserName = _broker.User,
            Password = _broker.Password,
            VirtualHost = _vhost,
        };
        await using var connection = await factory.CreateConnectionAsync();

        // Where ImageRejected events go: a private queue bound to MassTransit's exchange for the message type.
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync("Landmark.Contracts.Messages:ImageRejected", ExchangeType.Fanout, durable: true);
            await setup.QueueDeclareAsync("delivery-limit-test-rejections", durable: false, exclusive: false, autoDelete: false);
            await setup.QueueBindAsync("delivery-limit-test-rejections", "Landmark.Contracts.Messages:ImageRejected", "");

            var imageId = new string('d', 64);
            var envelope = new
            {
                messageId = Guid.NewGuid(),
                messageType = new[] { "urn:message:Landmark.Contracts.Messages:ImageIngested" },
                message = new ImageIngested(imageId, $"{imageId}/original", "killer.png", GalleryRole.Landmark, "1", null, 10, DateTimeOffset.UtcNow),
            };
            var body = JsonSerializer.SerializeToUtf8Bytes(envelope, new JsonSerializerOptions(JsonSerializerDefaults.Web));
            await setup.BasicPublishAsync("", QueueNames.Preprocess, mandatory: true,
                new BasicProperties { ContentType = "application/vnd.masstransit+json", Persistent = true }, body);
        }

        // Three consumers "die" holding the message: taken without an acknowledgement, channel closed.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var channel = await connection.CreateChannelAsync();
            BasicGetResult? held = null;
            for (var i = 0; i < 100 && held is null; i++)
            {
                held = await channel.BasicGetAsync(QueueNames.Preprocess, autoAck: false);
                if (held is null)
                {
                    await Task.Delay(100);
                }
            }
            Assert.NotNull(held);
            await channel.CloseAsync();
            await channel.DisposeAsync();
        }

        await using var second = Preprocess();
        await Task.Run(() => second.StartAsync());
        await using var reader = await connection.CreateChannelAsync();
        BasicGetResult? rejection = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (rejection is null && DateTime.UtcNow < deadline)
        {
            rejection = await reader.BasicGetAsync("delivery-limit-test-rejections", autoAck: true);
            if (rejection is null)
            {
                await Task.Delay(200);
            }
        }
        Assert.NotNull(rejection);
        var json = Encoding.UTF8.GetString(rejection!.Body.Span);
        Assert.Contains(PreprocessConsumer.DeliveryLimitCode, json, StringComparison.Ordinal);
        Assert.Contains("3 times", json, StringComparison.Ordinal);
        // The consumer acknowledges the message after publishing its rejection: the queue (ready + unacknowledged)
        // empties a moment later, never to be redelivered.
        var remaining = -1;
        for (var i = 0; i < 50 && remaining != 0; i++)
        {
            remaining = _broker.ListQueues(_vhost).GetValueOrDefault(QueueNames.Preprocess);
            if (remaining != 0)
            {
                await Task.Delay(200);
            }
        }
        await second.StopAsync();
        Assert.Equal(0, remaining);
    }
}
