using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Landmark.Imaging.Tests;

public class OptionsTests
{
    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var options = new ImagingOptions();
        Assert.Equal("Landmark:Imaging", ImagingOptions.SectionName);
        Assert.Equal(64L * 1024 * 1024, options.MaxBytes);
        Assert.Equal(80_000_000, options.MaxPixels);
        Assert.Equal(16, options.MinSide);
        Assert.Equal([("embed", 512, 90), ("thumb", 160, 80)], options.Variants.Select(v => (v.Name, v.MaxSide, v.JpegQuality)));
        Assert.True(Validator.TryValidateObject(options, new ValidationContext(options), [], validateAllProperties: true));
    }

    [Fact]
    public void Configured_variants_replace_the_defaults_instead_of_being_appended()
    {
        var pipeline = Resolve(new Dictionary<string, string?>
        {
            ["Landmark:Imaging:MaxPixels"] = "1000000",
            ["Landmark:Imaging:Variants:0:Name"] = "large",
            ["Landmark:Imaging:Variants:0:MaxSide"] = "1024",
            ["Landmark:Imaging:Variants:0:JpegQuality"] = "85",
        });
        Assert.Equal(1_000_000, pipeline.Options.MaxPixels);
        Assert.Equal([("large", 1024, 85)], pipeline.Options.Variants.Select(v => (v.Name, v.MaxSide, v.JpegQuality)));
    }

    [Fact]
    public void Without_configured_variants_the_defaults_stay()
    {
        var pipeline = Resolve(new Dictionary<string, string?> { ["Landmark:Imaging:MinSide"] = "32" });
        Assert.Equal(32, pipeline.Options.MinSide);
        Assert.Equal(["embed", "thumb"], pipeline.Options.Variants.Select(v => v.Name));
    }

    [Theory]
    [InlineData("Landmark:Imaging:MaxBytes", "0")]
    [InlineData("Landmark:Imaging:MinSide", "0")]
    [InlineData("Landmark:Imaging:Variants:0:JpegQuality", "101")]
    [InlineData("Landmark:Imaging:Variants:0:Name", "Bad Name")]
    public void Invalid_settings_fail_validation(string key, string value)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Landmark:Imaging:Variants:0:Name"] = "embed",
            ["Landmark:Imaging:Variants:0:MaxSide"] = "512",
        };
        settings[key] = value;
        Assert.Throws<OptionsValidationException>(() => Resolve(settings));
    }

    [Fact]
    public void Duplicate_variant_names_fail_validation()
    {
        var options = new ImagingOptions { Variants = [new("a", 100, 90), new("a", 50, 90)] };
        Assert.False(Validator.TryValidateObject(options, new ValidationContext(options), [], validateAllProperties: true));
    }

    private static ImagePipeline Resolve(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddImaging(configuration).AddImaging(configuration).BuildServiceProvider();
        return services.GetRequiredService<ImagePipeline>();
    }
}
