using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Landmark.Datasets;
using Landmark.Recognition;

namespace Landmark.Reporting;

/// <summary>
/// Writes an evaluation report: <c>index.html</c>, one self-contained file (inline CSS, inline SVG chart, thumbnails as
/// data: URIs, no script, nothing fetched) and <c>report.json</c> with the same figures. Every string that comes from data
/// (landmark names, ids, file names, model descriptions, errors) is HTML-encoded.
/// </summary>
public static class HtmlReport
{
    public const string HtmlFileName = "index.html";
    public const string JsonFileName = "report.json";

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes both files into <paramref name="directory"/> (created if needed); the path of index.html.</summary>
    public static string Write(string directory, EvaluationReport report, Dataset dataset, Thumbnails? thumbnails = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, JsonFileName), JsonSerializer.Serialize(report, JsonOptions), new UTF8Encoding(false));
        var html = Path.Combine(directory, HtmlFileName);
        File.WriteAllText(html, Render(report, dataset, thumbnails ?? new Thumbnails()), new UTF8Encoding(false));
        return html;
    }

    public static string Render(EvaluationReport report, Dataset dataset, Thumbnails thumbnails)
    {
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var image in dataset.Train.Concat(dataset.NonLandmarks))
        {
            paths.TryAdd(image.Id, image.Path);
        }
        var split = report.Split;
        string? QueryPath(string id) => dataset.Layout == DatasetLayout.Gldv2 && id.Length >= 3 && id.All(char.IsAsciiLetterOrDigit)
            ? DatasetReader.ImagePath(dataset.Root, split, id)
            : null;
        string Name(string id) => id.Length == 0 ? "" : dataset.Landmarks.GetValueOrDefault(id, id);

        var s = report.Summary;
        var sb = new StringBuilder(1 << 20);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        sb.Append("<title>Landmark evaluation: ").Append(H(report.Dataset)).Append(" / ").Append(H(report.Split)).Append("</title>\n");
        sb.Append("<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
        sb.Append("<header><h1>Landmark recognition evaluation</h1><p class=\"sub\">dataset <b>").Append(H(report.Dataset))
            .Append("</b>, split <b>").Append(H(report.Split)).Append("</b>, model <b>").Append(H(s.ModelVersion.Length > 0 ? s.ModelVersion : "(unknown)"))
            .Append("</b>, generated ").Append(H(report.GeneratedAt.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))).Append("</p></header>\n");

        // Summary cards.
        sb.Append("<section id=\"summary\" class=\"cards\">\n");
        Card(sb, "gap", "GAP", F(s.Gap, 4), "Kaggle's Global Average Precision");
        Card(sb, "accuracy", "Accuracy", F(s.Accuracy, 4), $"{s.Correct} of {s.LandmarkQueries} landmark queries right");
        Card(sb, "queries", "Queries", s.Queries.ToString(CultureInfo.InvariantCulture), $"{s.LandmarkQueries} landmark, {s.NonLandmarkQueries} non-landmark");
        Card(sb, "false-alarms", "False alarms", report.FalseAlarms.ToString(CultureInfo.InvariantCulture), "non-landmark photos answered as a landmark");
        Card(sb, "errors", "Unusable", s.Errors.ToString(CultureInfo.InvariantCulture), "queries the platform could not read");
        Card(sb, "speed", "Queries/s", F(s.QueriesPerSecond, 1), "end to end, this run");
        sb.Append("</section>\n");

        // Precision vs confidence.
        sb.Append("<section id=\"curve\"><h2>Precision against confidence</h2>\n");
        sb.Append("<p class=\"note\">Answers ranked by confidence, as GAP ranks them: at each threshold, the share of answers at or above it that name ")
            .Append("the right landmark (precision; non-landmark photos count as wrong) and the share of landmark queries answered right (recall).</p>\n");
        AppendCurve(sb, report.PrecisionCurve, report.ScorerSettings.TryGetValue(nameof(ScorerOptions.MinConfidence), out var min) ? min : null);
        sb.Append("</section>\n");

        // Per-landmark table.
        sb.Append("<section id=\"landmarks\"><h2>Per landmark</h2>\n<table class=\"data\">\n<thead><tr><th></th><th>Landmark</th><th>Id</th>")
            .Append("<th class=\"n\">Gallery photos</th><th class=\"n\">Queries</th><th class=\"n\">Right</th><th class=\"n\">Named in answers</th>")
            .Append("<th class=\"n\">…of other photos</th><th class=\"n\">AP</th></tr></thead>\n<tbody>\n");
        var firstGallery = dataset.Train.Where(i => i.LandmarkId is not null).GroupBy(i => i.LandmarkId!).ToDictionary(g => g.Key, g => g.First().Path, StringComparer.Ordinal);
        foreach (var l in report.Landmarks)
        {
            sb.Append("<tr><td>").Append(Img(thumbnails.Of(firstGallery.GetValueOrDefault(l.LandmarkId)), l.Name, "mini")).Append("</td><td>").Append(H(l.Name))
                .Append("</td><td class=\"id\">").Append(H(l.LandmarkId)).Append("</td><td class=\"n\">").Append(l.GalleryImages)
                .Append("</td><td class=\"n\">").Append(l.Queries).Append("</td><td class=\"n\">").Append(l.Correct)
                .Append("</td><td class=\"n\">").Append(l.Predicted).Append("</td><td class=\"n\">").Append(l.FalsePositives)
                .Append("</td><td class=\"n\">").Append(l.AveragePrecision is { } ap ? Bar(ap) : "<span class=\"dim\">no queries</span>").Append("</td></tr>\n");
        }
        sb.Append("</tbody></table>\n<p class=\"note\">Answers are the recognizer's best guesses, also those below the landmark threshold (GAP ranks them all). AP of a landmark: the answers naming it, ranked by confidence; the precision at each right one, ")
            .Append("summed and divided by the landmark's queries (GAP restricted to one landmark).</p></section>\n");

        // Confused pairs.
        sb.Append("<section id=\"confusions\"><h2>Most confused</h2>\n");
        if (report.ConfusedPairs.Count == 0)
        {
            sb.Append("<p class=\"ok\">No query was answered with another landmark or verdict than its own.</p>\n");
        }
        else
        {
            sb.Append("<table class=\"data\"><thead><tr><th>Photo shows</th><th>Answered as</th><th class=\"n\">Queries</th></tr></thead><tbody>\n");
            foreach (var p in report.ConfusedPairs)
            {
                sb.Append("<tr><td>").Append(LandmarkLabel(p.TrueLandmarkId, p.TrueName)).Append("</td><td>")
                    .Append(p.PredictedLandmarkId.Length == 0 ? "<i>not a landmark</i>" : LandmarkLabel(p.PredictedLandmarkId, p.PredictedName))
                    .Append("</td><td class=\"n\">").Append(p.Count).Append("</td></tr>\n");
            }
            sb.Append("</tbody></table>\n");
        }
        sb.Append("</section>\n");

        // Examples.
        sb.Append("<section id=\"misses\"><h2>Worst misses</h2>\n<p class=\"note\">Landmark photos answered with another landmark (the most confident ")
            .Append("first), then those answered right but below the landmark threshold; each beside its nearest gallery photos.</p>\n");
        AppendExamples(sb, report.WorstMisses, QueryPath, paths, Name, thumbnails, "No landmark photo was missed.");
        sb.Append("</section>\n");
        sb.Append("<section id=\"false-alarms-list\"><h2>Non-landmark false alarms</h2>\n<p class=\"note\">").Append(report.FalseAlarms)
            .Append(" non-landmark photo(s) were answered as a landmark. Below: the non-landmark photos ranked highest (false alarms first), ")
            .Append("which take GAP ranks above right answers when their confidence is high.</p>\n");
        AppendExamples(sb, report.NonLandmarksRankedHighest, QueryPath, paths, Name, thumbnails, "The split has no non-landmark photo.");
        sb.Append("</section>\n");

        // Model and settings.
        sb.Append("<section id=\"settings\"><h2>Model and scorer settings</h2>\n<table class=\"kv\">\n");
        if (report.Model is { } m)
        {
            Kv(sb, "Live model", m.Version);
            Kv(sb, "Kind", m.Kind);
            if (m.Description.Length > 0)
            {
                Kv(sb, "Description", m.Description);
            }
            Kv(sb, "Embedding", $"{m.Dimension}-d, input {m.InputSize} px");
            if (m.Mean.Count > 0)
            {
                Kv(sb, "Pixel normalisation", $"mean {string.Join(",", m.Mean.Select(v => F(v, 3)))} std {string.Join(",", m.Std.Select(v => F(v, 3)))}");
            }
            Kv(sb, "Created", m.CreatedAt);
            foreach (var (k, v) in m.Metrics)
            {
                Kv(sb, "Metric " + k, F(v, 4));
            }
        }
        if (s.ModelVersion.Length > 0 && s.ModelVersion != report.Model?.Version)
        {
            Kv(sb, "Model that embedded the queries", s.ModelVersion);
        }
        foreach (var (k, v) in report.ScorerSettings)
        {
            Kv(sb, "Scorer " + k, v.ToString("0.####", CultureInfo.InvariantCulture));
        }
        sb.Append("</table>\n</section>\n");
        sb.Append("<footer>The figures are also in <code>report.json</code> beside this file. Made by <code>landmark evaluate --report</code>.</footer>\n");
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static void AppendExamples(StringBuilder sb, IReadOnlyList<QueryFigures> examples, Func<string, string?> queryPath,
        Dictionary<string, string> galleryPaths, Func<string, string> name, Thumbnails thumbnails, string none)
    {
        if (examples.Count == 0)
        {
            sb.Append("<p class=\"ok\">").Append(H(none)).Append("</p>\n");
            return;
        }
        sb.Append("<div class=\"examples\">\n");
        foreach (var q in examples)
        {
            var verdict = q.TrueLandmarkId.Length == 0
                ? (q.IsLandmark ? "<span class=\"bad\">false alarm</span>" : "<span class=\"good\">rejected as non-landmark</span>")
                : q.Correct ? "<span class=\"warn\">right landmark, below the threshold</span>" : "<span class=\"bad\">wrong landmark</span>";
            sb.Append("<div class=\"example\"><figure class=\"query\">").Append(Img(thumbnails.Of(queryPath(q.QueryId)), "query " + q.QueryId, "thumb"))
                .Append("<figcaption><b>query</b> <span class=\"id\">").Append(H(q.QueryId)).Append("</span><br>shows ")
                .Append(q.TrueLandmarkId.Length == 0 ? "<i>no landmark</i>" : LandmarkLabel(q.TrueLandmarkId, name(q.TrueLandmarkId)))
                .Append("<br>answer ").Append(q.PredictedLandmarkId.Length == 0 ? "<i>none</i>" : LandmarkLabel(q.PredictedLandmarkId, name(q.PredictedLandmarkId)))
                .Append(" (").Append(F(q.Confidence, 3)).Append(")<br>").Append(verdict).Append("</figcaption></figure>\n<div class=\"neighbours\">");
            foreach (var n in q.Neighbours)
            {
                var cls = n.LandmarkId == q.TrueLandmarkId ? "same" : "other";
                sb.Append("<figure class=\"").Append(cls).Append("\">")
                    .Append(Img(thumbnails.Of(galleryPaths.GetValueOrDefault(n.ExternalId)), n.FileName.Length > 0 ? n.FileName : n.ImageId, "thumb"))
                    .Append("<figcaption>").Append(LandmarkLabel(n.LandmarkId, name(n.LandmarkId))).Append("<br>similarity ").Append(F(n.Similarity, 3))
                    .Append("</figcaption></figure>");
            }
            if (q.Neighbours.Count == 0)
            {
                sb.Append("<p class=\"dim\">no gallery neighbours</p>");
            }
            sb.Append("</div></div>\n");
        }
        sb.Append("</div>\n");
    }

    private static void AppendCurve(StringBuilder sb, IReadOnlyList<CurvePoint> points, double? threshold)
    {
        const int width = 720, height = 360, left = 56, right = 20, top = 16, bottom = 44;
        const double plotW = width - left - right, plotH = height - top - bottom;
        string X(double confidence) => F(left + Math.Clamp(confidence, 0, 1) * plotW, 1);
        string Y(double value) => F(top + (1 - Math.Clamp(value, 0, 1)) * plotH, 1);

        sb.Append("<svg id=\"precision-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(width).Append("\" height=\"").Append(height)
            .Append("\" viewBox=\"0 0 ").Append(width).Append(' ').Append(height).Append("\" role=\"img\" aria-label=\"precision and recall against confidence\">\n");
        sb.Append("<rect x=\"").Append(left).Append("\" y=\"").Append(top).Append("\" width=\"").Append(F(plotW, 0)).Append("\" height=\"").Append(F(plotH, 0))
            .Append("\" fill=\"#fafafa\" stroke=\"#bbb\"/>\n");
        foreach (var t in new[] { 0, 0.25, 0.5, 0.75, 1 })
        {
            sb.Append("<line x1=\"").Append(left).Append("\" x2=\"").Append(width - right).Append("\" y1=\"").Append(Y(t)).Append("\" y2=\"").Append(Y(t))
                .Append("\" stroke=\"#e3e3e3\"/>");
            sb.Append("<text x=\"").Append(left - 8).Append("\" y=\"").Append(Y(t)).Append("\" dy=\"4\" text-anchor=\"end\">").Append(F(t, 2)).Append("</text>");
            sb.Append("<text x=\"").Append(X(t)).Append("\" y=\"").Append(height - bottom + 18).Append("\" text-anchor=\"middle\">").Append(F(t, 2)).Append("</text>\n");
        }
        sb.Append("<text x=\"").Append(F(left + plotW / 2, 0)).Append("\" y=\"").Append(height - 6).Append("\" text-anchor=\"middle\">confidence threshold</text>\n");
        if (threshold is { } th)
        {
            sb.Append("<line id=\"threshold\" x1=\"").Append(X(th)).Append("\" x2=\"").Append(X(th)).Append("\" y1=\"").Append(top).Append("\" y2=\"")
                .Append(F(top + plotH, 0)).Append("\" stroke=\"#c77\" stroke-dasharray=\"4 3\"/><text x=\"").Append(X(th)).Append("\" y=\"").Append(top + 12)
                .Append("\" dx=\"4\" fill=\"#a44\">landmark threshold ").Append(F(th, 2)).Append("</text>\n");
        }
        if (points.Count == 0)
        {
            sb.Append("<text x=\"").Append(F(left + plotW / 2, 0)).Append("\" y=\"").Append(F(top + plotH / 2, 0)).Append("\" text-anchor=\"middle\">no answers</text>\n");
        }
        else
        {
            // Step curves from the highest threshold down (x falls), starting where the first answer is.
            var ordered = points.OrderByDescending(p => p.Confidence).ToList();
            foreach (var (id, pick, style) in new (string, Func<CurvePoint, double>, string)[]
                     {
                         ("precision-curve", p => p.Precision, "stroke=\"#1f5fbf\" stroke-width=\"2.5\""),
                         ("recall-curve", p => p.Recall, "stroke=\"#2a9d5b\" stroke-width=\"2\" stroke-dasharray=\"6 4\""),
                     })
            {
                var pts = new StringBuilder();
                double? previous = null;
                foreach (var p in ordered)
                {
                    if (previous is { } prev)
                    {
                        pts.Append(X(p.Confidence)).Append(',').Append(Y(prev)).Append(' ');
                    }
                    pts.Append(X(p.Confidence)).Append(',').Append(Y(pick(p))).Append(' ');
                    previous = pick(p);
                }
                pts.Append(X(0)).Append(',').Append(Y(previous ?? 0));
                sb.Append("<polyline id=\"").Append(id).Append("\" fill=\"none\" ").Append(style).Append(" points=\"").Append(pts).Append("\"/>\n");
            }
            sb.Append("<g class=\"legend\"><line x1=\"").Append(width - right - 170).Append("\" x2=\"").Append(width - right - 140).Append("\" y1=\"")
                .Append(height - bottom - 30).Append("\" y2=\"").Append(height - bottom - 30).Append("\" stroke=\"#1f5fbf\" stroke-width=\"2.5\"/><text x=\"")
                .Append(width - right - 134).Append("\" y=\"").Append(height - bottom - 26).Append("\">precision</text><line x1=\"").Append(width - right - 170)
                .Append("\" x2=\"").Append(width - right - 140).Append("\" y1=\"").Append(height - bottom - 12).Append("\" y2=\"").Append(height - bottom - 12)
                .Append("\" stroke=\"#2a9d5b\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"").Append(width - right - 134).Append("\" y=\"")
                .Append(height - bottom - 8).Append("\">recall</text></g>\n");
        }
        sb.Append("</svg>\n");
    }

    private static void Card(StringBuilder sb, string id, string label, string value, string note) =>
        sb.Append("<div class=\"card\" id=\"card-").Append(id).Append("\"><div class=\"label\">").Append(H(label)).Append("</div><div class=\"value\" id=\"")
            .Append(id).Append("-value\">").Append(H(value)).Append("</div><div class=\"note\">").Append(H(note)).Append("</div></div>\n");

    private static void Kv(StringBuilder sb, string key, string value) =>
        sb.Append("<tr><th>").Append(H(key)).Append("</th><td>").Append(H(value)).Append("</td></tr>\n");

    private static string Img(Thumbnail? t, string alt, string cls) => t is null
        ? $"<span class=\"{cls} missing\" title=\"{H(alt)}\">no image</span>"
        : $"<img class=\"{cls}\" src=\"{t.DataUri}\" width=\"{t.Width}\" height=\"{t.Height}\" alt=\"{H(alt)}\" loading=\"eager\">";

    private static string LandmarkLabel(string id, string name) => id.Length == 0
        ? "<i>no landmark</i>"
        : name.Length > 0 && name != id ? $"{H(name)} <span class=\"id\">{H(id)}</span>" : $"<span class=\"id\">{H(id)}</span>";

    private static string Bar(double value) =>
        $"<span class=\"bar\"><span style=\"width:{F(Math.Clamp(value, 0, 1) * 100, 0)}%\"></span></span> {F(value, 3)}";

    private static string F(double value, int decimals) => value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>HTML-encodes text from data (element content and attribute values alike).</summary>
    public static string H(string? text) => WebUtility.HtmlEncode(text ?? "");

    private const string Css = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; }
        h1 { font-size: 24px; margin: 8px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        .sub, .note, footer { color: #666; } .note { font-size: 12.5px; max-width: 900px; }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
        .card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 16px; min-width: 150px; background: #fcfcfc; }
        .card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #666; }
        .card .value { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
        #card-gap { border-color: #1f5fbf; } #card-gap .value { color: #1f5fbf; }
        svg text { font: 12px system-ui, sans-serif; fill: #444; }
        table.data { border-collapse: collapse; } table.data th, table.data td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: middle; }
        table.data th { font-size: 12px; color: #555; } .n { text-align: right !important; font-variant-numeric: tabular-nums; }
        table.kv th { text-align: left; color: #555; font-weight: 500; padding: 2px 16px 2px 0; } table.kv td { font-family: ui-monospace, monospace; }
        .id { font-family: ui-monospace, monospace; font-size: 12px; color: #777; }
        .bar { display: inline-block; width: 80px; height: 8px; background: #eee; border-radius: 4px; vertical-align: middle; }
        .bar span { display: block; height: 8px; background: #1f5fbf; border-radius: 4px; }
        img.mini { width: auto; height: 40px; border-radius: 3px; } img.thumb { max-width: 128px; max-height: 128px; border-radius: 4px; display: block; }
        .missing { display: inline-block; width: 96px; height: 64px; background: #eee; color: #999; font-size: 11px; text-align: center; line-height: 64px; }
        .mini.missing { width: 56px; height: 40px; line-height: 40px; font-size: 10px; }
        figcaption { overflow-wrap: anywhere; }
        .examples { display: flex; flex-direction: column; gap: 12px; }
        .example { display: flex; gap: 18px; align-items: flex-start; border: 1px solid #eee; border-radius: 8px; padding: 8px; }
        .example figure { margin: 0; width: 132px; font-size: 12px; } .example figure.query { width: 200px; }
        .neighbours { display: flex; flex-wrap: wrap; gap: 10px; }
        figure.same img { outline: 3px solid #2a9d5b; } figure.other img { outline: 3px solid #d05a4a; }
        .bad { color: #b3261e; font-weight: 600; } .good { color: #2a7d4b; } .warn { color: #a15c00; } .ok { color: #2a7d4b; } .dim { color: #999; }
        """;
}
