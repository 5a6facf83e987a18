using Landmark.Contracts.Api;
using Landmark.Contracts.Api.V1;
using Landmark.Onnx;
using Xunit;

namespace Landmark.Rollout.Tests;

/// <summary>The API's <see cref="ModelKind"/> of the kinds the registry's manifests are written with (the API edge's one
/// mapping, <see cref="ModelKinds.FromManifest"/>).</summary>
public class ModelKindTests
{
    public static TheoryData<string> ManifestKinds => [.. ModelManifest.Kinds];

    [Theory]
    [MemberData(nameof(ManifestKinds))]
    public void Every_kind_a_manifest_is_written_with_maps_to_a_specified_kind_whose_text_is_the_manifest_word(string word)
    {
        var kind = ModelKinds.FromManifest(word);
        Assert.NotEqual(ModelKind.Unspecified, kind);
        Assert.Equal(word, ModelKinds.Text(kind));
    }

    [Fact]
    public void Manifest_kinds_and_the_api_enum_correspond_one_to_one()
    {
        var mapped = ModelManifest.Kinds.Select(ModelKinds.FromManifest).ToList();
        Assert.Equal(mapped.Count, mapped.Distinct().Count());
        Assert.Equal(Enum.GetValues<ModelKind>().Where(k => k != ModelKind.Unspecified).Order(), mapped.Order());
    }

    [Theory]
    [InlineData("")]
    [InlineData("baseline")]
    [InlineData("Pretrained")]
    [InlineData("MODEL_KIND_TRAINED")]
    public void An_unknown_word_is_unspecified(string word)
    {
        Assert.Equal(ModelKind.Unspecified, ModelKinds.FromManifest(word));
    }

    [Fact]
    public void The_api_reports_the_manifest_kind_as_the_enum()
    {
        var manifest = new ModelManifest { Version = "imported-x-0123456789ab", Kind = ModelManifest.KindImported, InputSize = 64, Dimension = 8 };
        Assert.Equal(ModelKind.Imported, Landmark.Trainer.ModelApi.ToProto(manifest, live: false).Kind);
        Assert.Equal("unspecified", ModelKinds.Text(ModelKind.Unspecified));
    }
}
