using System.Text;
using Landmark.HostileCorpus;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Imaging.Tests;

/// <summary>Every file of the generated hostile corpus gets an answer from every entry point: accepted, or an
/// <see cref="ImageRejectedException"/> with a known code and a reason that shows neither a server path nor the file's
/// bytes. Nothing else escapes.</summary>
public class HostileCorpusTests(ITestOutputHelper output)
{
    private static readonly Lazy<IReadOnlyList<HostileFile>> Files = new(() => Corpus.Build());

    private static readonly string[] KnownCodes =
    [
        RejectionCodes.Empty, RejectionCodes.UnsupportedFormat, RejectionCodes.Truncated, RejectionCodes.Corrupt,
        RejectionCodes.TooSmall, RejectionCodes.TooLarge, RejectionCodes.TooManyBytes,
    ];

    public static TheoryData<string> Kinds => ["bomb", "huge-header", "odd-jpeg", "exif", "zero-frame", "polyglot", "truncated", "byte-flips"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_file_is_accepted_or_rejected_with_a_clean_reason(string kind)
    {
        var pipeline = new ImagePipeline(new ImagingOptions());
        var files = Files.Value.Where(f => f.Kind == kind).ToList();
        Assert.NotEmpty(files);
        var failures = new List<string>();
        foreach (var file in files)
        {
            var verdict = Answer(pipeline, file, failures);
            output.WriteLine($"{file.Name} ({file.Bytes.Length} bytes): {verdict}");
        }
        Assert.Equal(0, pipeline.Budget.InUse);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void The_corpus_has_every_kind_and_its_names_are_unique()
    {
        var files = Files.Value;
        output.WriteLine($"{files.Count} files: {Corpus.Summary(files)}");
        Assert.Equal(files.Count, files.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count());
        foreach (var kind in new[] { "bomb", "huge-header", "odd-jpeg", "exif", "zero-frame", "polyglot", "truncated", "byte-flips" })
        {
            Assert.Contains(files, f => f.Kind == kind);
        }
        Assert.Equal(4 * 7, files.Count(f => f.Kind == "truncated"));
    }

    private static string Answer(ImagePipeline pipeline, HostileFile file, List<string> failures)
    {
        string? prepare = null;
        try
        {
            var prepared = pipeline.Prepare(file.Bytes);
            if (prepared.Variants.Count != pipeline.Options.Variants.Count || prepared.Variants.Any(v => v.Bytes.Length == 0))
            {
                failures.Add($"{file.Name}: accepted without every variant");
            }
        }
        catch (ImageRejectedException ex)
        {
            prepare = ex.Code;
            CheckReason(file, ex, failures);
        }
        catch (Exception ex)
        {
            failures.Add($"{file.Name}: Prepare threw {ex.GetType().Name}: {ex.Message}");
            return "exception";
        }

        string? tensor = null;
        try
        {
            var values = pipeline.ToTensor(file.Bytes, 64);
            if (!Array.TrueForAll(values, v => v is >= 0f and <= 1f))
            {
                failures.Add($"{file.Name}: tensor values outside [0, 1]");
            }
        }
        catch (ImageRejectedException ex)
        {
            tensor = ex.Code;
            CheckReason(file, ex, failures);
        }
        catch (Exception ex)
        {
            failures.Add($"{file.Name}: ToTensor threw {ex.GetType().Name}: {ex.Message}");
        }
        if (prepare != tensor)
        {
            failures.Add($"{file.Name}: Prepare says {prepare ?? "accepted"}, ToTensor {tensor ?? "accepted"}");
        }

        switch (file.Expect)
        {
            case Expect.Accepted when prepare is not null:
                failures.Add($"{file.Name}: expected accepted, got {prepare}");
                break;
            case Expect.Rejected when prepare is null:
                failures.Add($"{file.Name}: expected a rejection ({string.Join('|', file.Codes)}), got accepted");
                break;
            case Expect.Rejected or Expect.Either when prepare is not null && file.Codes.Length > 0 && !file.Codes.Contains(prepare):
                failures.Add($"{file.Name}: rejected as {prepare}, expected {string.Join('|', file.Codes)}");
                break;
        }
        return prepare ?? "accepted";
    }

    private static void CheckReason(HostileFile file, ImageRejectedException ex, List<string> failures)
    {
        if (!KnownCodes.Contains(ex.Code))
        {
            failures.Add($"{file.Name}: unknown code {ex.Code}");
        }
        var reason = ex.Reason;
        if (reason.Length is 0 or > 300)
        {
            failures.Add($"{file.Name}: reason of {reason.Length} characters");
        }
        if (reason.Contains("/srv", StringComparison.Ordinal) || reason.Contains("/etc", StringComparison.Ordinal)
            || reason.Contains("/tmp", StringComparison.Ordinal) || reason.Contains("/work", StringComparison.Ordinal)
            || reason.Contains("/home", StringComparison.Ordinal))
        {
            failures.Add($"{file.Name}: the reason shows a path: {reason}");
        }
        // No run of eight printable characters of the file may reappear in the reason.
        var text = Encoding.Latin1.GetString(file.Bytes);
        for (var i = 0; i + 8 <= reason.Length; i++)
        {
            var window = reason.Substring(i, 8);
            if (window.All(c => c is >= ' ' and <= '~') && !IsOurWording(window) && text.Contains(window, StringComparison.Ordinal))
            {
                failures.Add($"{file.Name}: the reason repeats the file's bytes \"{window}\": {reason}");
                break;
            }
        }
    }

    /// <summary>Words the pipeline writes itself, which a file may contain by chance ("the PNG ", "IHDR"...).</summary>
    private static bool IsOurWording(string window) => window.Any(char.IsDigit) is false && window.All(c => char.IsLetter(c) || c == ' ')
        ? PipelineVocabulary.Any(v => v.Contains(window, StringComparison.Ordinal))
        : false;

    private static readonly string[] PipelineVocabulary =
    [
        "not a recognised image format (JPEG, PNG, WebP, GIF, BMP, HEIC, AVIF)", "the file has no bytes",
    ];
}
