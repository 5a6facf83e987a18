using Landmark.ServiceDefaults;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>Options sections nested inside others are validated too (plain DataAnnotations stop at the top level).</summary>
public sealed class NestedOptionsValidationTests
{
    [Fact]
    public void A_rabbitmq_port_out_of_range_fails_messaging_validation_with_its_path()
    {
        var options = new MessagingOptions { RabbitMq = new RabbitMqOptions { Port = 0 } };

        var result = new MessagingOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("RabbitMq.Port", StringComparison.Ordinal));
    }

    [Fact]
    public void Default_messaging_options_are_valid() =>
        Assert.True(new MessagingOptionsValidator().Validate(null, new MessagingOptions()).Succeeded);
}
