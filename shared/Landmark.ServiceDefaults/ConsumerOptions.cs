using System.ComponentModel.DataAnnotations;

namespace Landmark.ServiceDefaults;

/// <summary>
/// One consumer's endpoint settings, bound from <c>Landmark:Messaging:Consumers:&lt;consumer class&gt;</c> (for example
/// <c>Landmark:Messaging:Consumers:EmbedConsumer:ConcurrencyLimit</c>). A setting left out falls back to the consumer's
/// own default (its <see cref="LandmarkConsumerDefinition{TConsumer}"/>), then to <see cref="MessagingOptions"/>.
/// </summary>
public sealed class ConsumerOptions
{
    public const string SectionName = "Landmark:Messaging:Consumers";

    /// <summary>Messages this consumer processes at once per process (0 = the transport's default, the prefetch).</summary>
    [Range(0, 1000)]
    public int? ConcurrencyLimit { get; set; }

    /// <summary>Messages the broker hands this consumer ahead of processing.</summary>
    [Range(1, 10000)]
    public int? PrefetchCount { get; set; }

    /// <summary>Immediate retries before a message goes to the error queue.</summary>
    [Range(0, 100)]
    public int? RetryLimit { get; set; }

    /// <summary>First retry delay; doubles each attempt.</summary>
    [Range(1, 600_000)]
    public int? RetryInitialDelayMs { get; set; }

    /// <summary>The configuration section of <typeparamref name="TConsumer"/>'s settings.</summary>
    public static string SectionFor<TConsumer>() => $"{SectionName}:{NameOf<TConsumer>()}";

    /// <summary>The name of <typeparamref name="TConsumer"/>'s named options (and of its configuration section).</summary>
    public static string NameOf<TConsumer>() => typeof(TConsumer).Name;
}

/// <summary>The data annotations of <see cref="ConsumerOptions"/> (generated), run for every consumer's named options.</summary>
[Microsoft.Extensions.Options.OptionsValidator]
public sealed partial class ConsumerOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<ConsumerOptions>;
