using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Landmark.Trainer;
using Landmark.Training;
using Xunit;

namespace Landmark.Training.Tests;

public class TrainingJobSetupTests
{
    private static List<GalleryImage> Gallery(params (string Landmark, int Count)[] classes) =>
        classes.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => new GalleryImage($"{c.Landmark}-{i:D3}", c.Landmark))).ToList();

    [Fact]
    public void Split_is_stratified_and_every_class_keeps_training_images()
    {
        var gallery = Gallery(("a", 40), ("b", 10), ("c", 3));
        var (classes, train, validation) = TrainingData.Split(gallery, new TrainingOptions { ValidationFraction = 0.2, MinImagesPerClass = 3 });
        Assert.Equal(["a", "b", "c"], classes);
        Assert.Equal(8, validation.Count(v => v.Label == 0));
        Assert.Equal(2, validation.Count(v => v.Label == 1));
        Assert.Equal(1, validation.Count(v => v.Label == 2));
        Assert.Equal(gallery.Count, train.Count + validation.Count);
        Assert.Empty(train.Select(t => t.ImageId).Intersect(validation.Select(v => v.ImageId)));
        Assert.All(classes.Select((_, label) => label), label => Assert.Contains(train, t => t.Label == label));
    }

    [Fact]
    public void Split_is_the_same_for_the_same_seed_whatever_the_listing_order()
    {
        var gallery = Gallery(("a", 20), ("b", 20));
        var options = new TrainingOptions { Seed = 7 };
        var first = TrainingData.Split(gallery, options);
        var second = TrainingData.Split(gallery.AsEnumerable().Reverse().ToList(), options);
        Assert.Equal(first.Validation, second.Validation);
        Assert.NotEqual(first.Validation, TrainingData.Split(gallery, new TrainingOptions { Seed = 8 }).Validation);
    }

    [Fact]
    public void Near_duplicates_land_on_the_same_side_of_the_split_and_distinct_photos_split_as_without_hashes()
    {
        // 40 photos of one landmark with unrelated hashes, and five near-duplicate sets (a copy 2 bits off, one 3 bits
        // off that copy): whatever the seed, a set never straddles training and validation.
        var random = new Random(11);
        var gallery = Gallery(("a", 40), ("b", 30)).Select(g => g with { PerceptualHash = (ulong)random.NextInt64() }).ToList();
        var sets = new List<string[]>();
        for (var k = 0; k < 5; k++)
        {
            var original = gallery[k * 7];
            var copy = original with { ImageId = original.ImageId + "-copy", PerceptualHash = original.PerceptualHash ^ 0b11UL };
            var copyOfCopy = original with { ImageId = original.ImageId + "-copy2", PerceptualHash = copy.PerceptualHash ^ (0b111UL << 20) };
            gallery.Add(copy);
            gallery.Add(copyOfCopy);
            sets.Add([original.ImageId, copy.ImageId, copyOfCopy.ImageId]);
        }
        var straddled = 0;
        var held = 0;
        for (var seed = 0; seed < 40; seed++)
        {
            var options = new TrainingOptions { Seed = seed, ValidationFraction = 0.2 };
            var (_, train, validation) = TrainingData.Split(gallery, options);
            var validationIds = validation.Select(v => v.ImageId).ToHashSet();
            Assert.Equal(gallery.Count, train.Count + validation.Count);
            Assert.Equal(10 + 6, validation.Count); // round(0.2·50) of a (40 photos + 10 copies), round(0.2·30) of b
            straddled += sets.Count(set => set.Count(validationIds.Contains) is > 0 and < 3);
            held += sets.Count(set => set.All(validationIds.Contains));
        }
        Assert.Equal(0, straddled);
        Assert.True(held > 0, "near-duplicate sets were never held out whole");

        // Without near-duplicates the hashes change nothing.
        var distinct = Gallery(("a", 25), ("b", 25)).Select(g => g with { PerceptualHash = (ulong)random.NextInt64() }).ToList();
        var plain = distinct.Select(g => g with { PerceptualHash = null }).ToList();
        Assert.Equal(TrainingData.Split(plain, new TrainingOptions()).Validation, TrainingData.Split(distinct, new TrainingOptions()).Validation);
    }

    [Fact]
    public void Curation_drops_small_classes_and_keeps_the_largest_ones()
    {
        var gallery = Gallery(("small", 2), ("mid", 6), ("big", 9), ("huge", 12));
        var (classes, _, _) = TrainingData.Split(gallery, new TrainingOptions { MinImagesPerClass = 4, MaxClasses = 2 });
        Assert.Equal(["big", "huge"], classes);
    }

    [Fact]
    public void Overrides_replace_defaults_and_whole_arrays()
    {
        var defaults = new TrainingOptions();
        var options = TrainingOptionsBinder.Bind(defaults, new Dictionary<string, string>
        {
            ["Epochs"] = "3",
            ["Head"] = "ArcFace",
            ["Backbone:Family"] = "MobileNet",
            ["Backbone:Widths:0"] = "16",
            ["Backbone:Widths:1"] = "32",
            ["Backbone:Depths:0"] = "1",
            ["Backbone:Depths:1"] = "2",
            ["ImageSizeStages:0"] = "64",
        });
        Assert.Equal(3, options.Epochs);
        Assert.Equal(HeadKind.ArcFace, options.Head);
        Assert.Equal(BackboneFamily.MobileNet, options.Backbone.Family);
        Assert.Equal([16, 32], options.Backbone.Widths);
        Assert.Equal([1, 2], options.Backbone.Depths);
        Assert.Equal([64], options.ImageSizeStages);
        // The defaults are untouched.
        Assert.Equal(new TrainingOptions().Epochs, defaults.Epochs);
        Assert.Equal(4, defaults.Backbone.Widths.Length);
    }

    [Theory]
    [InlineData("Epochs", "0", "Epochs")]
    [InlineData("Epochs", "many", "Epochs")]
    [InlineData("NoSuchOption", "1", "unknown training option 'NoSuchOption'")]
    [InlineData("Device", "tpu", "Device")]
    [InlineData("Backbone:Widths:0", "8", "same length")]
    [InlineData("Backbone:StemWidth", "4", "StemWidth")]
    [InlineData("WarmupEpochs", "5", "WarmupEpochs (5) must be smaller than Epochs (3)")]
    [InlineData("MarginLow", "0.9", "MarginLow")]
    public void Bad_overrides_are_invalid_argument_with_the_reason(string key, string value, string expected)
    {
        var error = Assert.Throws<RpcException>(() => TrainingOptionsBinder.Bind(new TrainingOptions(), new Dictionary<string, string> { [key] = value }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(expected, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Arrays_set_in_configuration_replace_the_defaults_whole()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Landmark:Training:Backbone:Widths:0"] = "16",
            ["Landmark:Training:Backbone:Widths:1"] = "32",
            ["Landmark:Training:Backbone:Depths:0"] = "1",
            ["Landmark:Training:Backbone:Depths:1"] = "2",
            ["Landmark:Training:Epochs"] = "7",
        }).Build();
        var section = configuration.GetSection(TrainingOptions.SectionName);
        var options = new TrainingOptions();
        section.Bind(options);
        // Plain binding keeps the defaults' elements (it appends to the default array).
        Assert.NotEqual([16, 32], options.Backbone.Widths);
        TrainingOptionsBinder.ReplaceConfiguredArrays(options, section);
        Assert.Equal([16, 32], options.Backbone.Widths);
        Assert.Equal([1, 2], options.Backbone.Depths);
        Assert.Equal(7, options.Epochs);
        Assert.Empty(options.ImageSizeStages);
    }

    [Fact]
    public void The_defaults_pass_the_one_validator()
    {
        Assert.True(new TrainingOptionsValidator().Validate(null, new TrainingOptions()).Succeeded);
    }

    [Theory]
    [InlineData("Landmark:Training:Backbone:Widths:0", "16", "same length")]
    [InlineData("Landmark:Training:Backbone:StemWidth", "2", "StemWidth")]
    [InlineData("Landmark:Training:WarmupEpochs", "9", "WarmupEpochs")]
    public void Bad_configured_options_fail_when_the_options_are_first_read_with_every_reason(string key, string value, string expected)
    {
        // The same pipeline as the trainer's start-up (and its one-shot `trainer train`): bind, replace arrays, validate.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IValidateOptions<TrainingOptions>, TrainingOptionsValidator>();
        services.AddOptions<TrainingOptions>().Bind(configuration.GetSection(TrainingOptions.SectionName))
            .PostConfigure(o => TrainingOptionsBinder.ReplaceConfiguredArrays(o, configuration.GetSection(TrainingOptions.SectionName)));
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<TrainingOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }
}
