using Landmark.Contracts.Api.V1;
using Xunit;

namespace Landmark.Cli.Tests;

/// <summary>The words the CLI prints for API enums: unchanged from when the API sent them as text.</summary>
public class ApiTextTests
{
    [Theory]
    [InlineData(ModelKind.BaselineDescriptor, "baseline-descriptor")]
    [InlineData(ModelKind.Pretrained, "pretrained")]
    [InlineData(ModelKind.Trained, "trained")]
    [InlineData(ModelKind.Imported, "imported")]
    [InlineData(ModelKind.Unspecified, "unspecified")]
    public void Model_kinds_print_as_the_registry_names_them(ModelKind kind, string text)
    {
        Assert.Equal(text, ApiText.Of(kind));
    }

    [Fact]
    public void Every_model_kind_has_its_own_word()
    {
        var words = Enum.GetValues<ModelKind>().Select(ApiText.Of).ToList();
        Assert.Equal(words.Count, words.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void States_print_in_lower_case()
    {
        Assert.Equal("reindexing", ApiText.Of(RolloutStatus.Types.State.Reindexing));
        Assert.Equal("completed", ApiText.Of(TrainingJob.Types.State.Completed));
    }
}
