using Landmark.Contracts.Api.V1;

namespace Landmark.Contracts.Api;

/// <summary>
/// The API's <see cref="ModelKind"/> and the word the model registry's manifests store for it (and people read:
/// the CLI, the evaluation report). One table, read both ways: the trainer maps a manifest's word to the enum at the
/// API edge with <see cref="FromManifest"/>, clients print <see cref="Text"/>.
/// </summary>
public static class ModelKinds
{
    private static readonly (ModelKind Kind, string Word)[] Words =
    [
        (ModelKind.BaselineDescriptor, "baseline-descriptor"),
        (ModelKind.Pretrained, "pretrained"),
        (ModelKind.Trained, "trained"),
        (ModelKind.Imported, "imported"),
    ];

    /// <summary>The kind of a manifest's word ("pretrained", ...); a word the API does not know is
    /// <see cref="ModelKind.Unspecified"/>.</summary>
    public static ModelKind FromManifest(string word)
    {
        foreach (var (kind, text) in Words)
        {
            if (string.Equals(text, word, StringComparison.Ordinal))
            {
                return kind;
            }
        }
        return ModelKind.Unspecified;
    }

    /// <summary>The kind's word ("baseline-descriptor", "pretrained", "trained", "imported"); "unspecified" for
    /// <see cref="ModelKind.Unspecified"/> or a value this build does not know.</summary>
    public static string Text(ModelKind kind)
    {
        foreach (var (known, text) in Words)
        {
            if (known == kind)
            {
                return text;
            }
        }
        return "unspecified";
    }
}
