using Microsoft.VisualBasic.FileIO;

namespace Landmark.Datasets;

/// <summary>The layout a dataset directory was recognised as.</summary>
public enum DatasetLayout
{
    /// <summary>Google Landmarks Dataset v2: <c>train.csv</c> (<c>id,landmark_id</c>), <c>&lt;split&gt;.csv</c>
    /// (<c>id,landmarks</c>), <c>nonlandmark.csv</c>, <c>landmarks.csv</c>, images at
    /// <c>images/&lt;split&gt;/a/b/c/&lt;id&gt;.jpg</c>.</summary>
    Gldv2,
    /// <summary>One sub-folder per landmark holding its photos; an optional <c>non-landmark</c> folder of distractors.</summary>
    FolderPerClass,
}

/// <summary>An image of a dataset. <see cref="LandmarkId"/> is null for non-landmark images.</summary>
public sealed record DatasetImage(string Id, string Path, string? LandmarkId);

/// <summary>A problem with one row or file; the rest of the dataset is still usable.</summary>
public sealed record DatasetProblem(string Where, string Reason);

/// <summary>A dataset directory read into memory (file paths, not pixels).</summary>
public sealed class Dataset
{
    public required string Root { get; init; }
    public required DatasetLayout Layout { get; init; }
    /// <summary>landmark id → display name.</summary>
    public required IReadOnlyDictionary<string, string> Landmarks { get; init; }
    /// <summary>Labelled landmark photos: the gallery and the training set.</summary>
    public required IReadOnlyList<DatasetImage> Train { get; init; }
    /// <summary>Non-landmark distractors for the gallery.</summary>
    public required IReadOnlyList<DatasetImage> NonLandmarks { get; init; }
    public required IReadOnlyList<DatasetProblem> Problems { get; init; }

    /// <summary>Reads the query split <paramref name="split"/> (<c>&lt;split&gt;.csv</c> with <c>id,landmarks</c>;
    /// an empty <c>landmarks</c> means the photo shows no landmark).</summary>
    public (IReadOnlyList<DatasetImage> Queries, IReadOnlyList<DatasetProblem> Problems) ReadSplit(string split) =>
        DatasetReader.ReadQuerySplit(this, split);
}

/// <summary>Reads GLDv2-style and folder-per-class dataset directories.</summary>
public static class DatasetReader
{
    public const string NonLandmarkFolder = "non-landmark";
    public const string TrainSplit = "train";
    public const string NonLandmarkSplit = "nonlandmark";

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".heic", ".avif"];

    /// <summary>Reads a dataset directory. Problems name files relative to <paramref name="root"/>
    /// (<c>train.csv:12</c>, <c>images/train/a/b/c/abc.jpg</c>), never by their full path.</summary>
    public static Dataset Read(string root, CancellationToken cancellationToken = default)
    {
        root = System.IO.Path.GetFullPath(root);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"Dataset directory '{root}' does not exist.");
        }
        return File.Exists(System.IO.Path.Combine(root, "train.csv")) ? ReadGldv2(root, cancellationToken) : ReadFolderPerClass(root, cancellationToken);
    }

    /// <summary>GLDv2 image path: <c>images/&lt;split&gt;/a/b/c/&lt;id&gt;.jpg</c>.</summary>
    public static string ImagePath(string root, string split, string id) =>
        System.IO.Path.Combine(root, "images", split, id[..1], id[1..2], id[2..3], id + ".jpg");

    private static Dataset ReadGldv2(string root, CancellationToken cancellationToken)
    {
        var problems = new List<DatasetProblem>();
        var landmarks = new Dictionary<string, string>(StringComparer.Ordinal);
        var landmarksCsv = System.IO.Path.Combine(root, "landmarks.csv");
        var haveNames = File.Exists(landmarksCsv);
        if (haveNames)
        {
            foreach (var (line, row) in ReadRows(landmarksCsv, problems))
            {
                var id = row.GetValueOrDefault("landmark_id")?.Trim();
                if (string.IsNullOrEmpty(id))
                {
                    problems.Add(new DatasetProblem($"landmarks.csv:{line}", "missing landmark_id"));
                    continue;
                }
                landmarks[id] = row.GetValueOrDefault("name")?.Trim() is { Length: > 0 } name ? name : id;
            }
        }

        var train = new List<DatasetImage>();
        foreach (var (line, row) in ReadRows(System.IO.Path.Combine(root, "train.csv"), problems))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = row.GetValueOrDefault("id")?.Trim();
            var landmark = row.GetValueOrDefault("landmark_id")?.Trim();
            var where = $"train.csv:{line}";
            if (!ValidId(id, where, problems))
            {
                continue;
            }
            if (string.IsNullOrEmpty(landmark))
            {
                problems.Add(new DatasetProblem(where, $"image {id} has no landmark_id"));
                continue;
            }
            if (haveNames && !landmarks.ContainsKey(landmark))
            {
                problems.Add(new DatasetProblem(where, $"unknown landmark id '{landmark}' (not in landmarks.csv); image {id} skipped"));
                continue;
            }
            if (!haveNames)
            {
                landmarks.TryAdd(landmark, landmark);
            }
            AddIfExists(root, train, new DatasetImage(id!, ImagePath(root, TrainSplit, id!), landmark), where, problems);
        }

        var nonLandmarks = new List<DatasetImage>();
        var nonLandmarkCsv = System.IO.Path.Combine(root, "nonlandmark.csv");
        if (File.Exists(nonLandmarkCsv))
        {
            foreach (var (line, row) in ReadRows(nonLandmarkCsv, problems))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var id = row.GetValueOrDefault("id")?.Trim();
                var where = $"nonlandmark.csv:{line}";
                if (ValidId(id, where, problems))
                {
                    AddIfExists(root, nonLandmarks, new DatasetImage(id!, ImagePath(root, NonLandmarkSplit, id!), null), where, problems);
                }
            }
        }

        return new Dataset
        {
            Root = root,
            Layout = DatasetLayout.Gldv2,
            Landmarks = landmarks,
            Train = train,
            NonLandmarks = nonLandmarks,
            Problems = problems,
        };
    }

    internal static (IReadOnlyList<DatasetImage>, IReadOnlyList<DatasetProblem>) ReadQuerySplit(Dataset dataset, string split)
    {
        if (dataset.Layout != DatasetLayout.Gldv2)
        {
            throw new InvalidOperationException($"Query splits need the GLDv2 layout (a {split}.csv); '{dataset.Root}' is folder-per-class.");
        }
        if (split.IndexOfAny(['/', '\\']) >= 0 || split.Contains("..", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Invalid split name '{split}'.", nameof(split));
        }
        var csv = System.IO.Path.Combine(dataset.Root, split + ".csv");
        if (!File.Exists(csv))
        {
            throw new FileNotFoundException($"Split '{split}' has no {split}.csv in '{dataset.Root}'.", csv);
        }
        var problems = new List<DatasetProblem>();
        var queries = new List<DatasetImage>();
        foreach (var (line, row) in ReadRows(csv, problems))
        {
            var id = row.GetValueOrDefault("id")?.Trim();
            var where = $"{split}.csv:{line}";
            if (!ValidId(id, where, problems))
            {
                continue;
            }
            // GLDv2 allows several space-separated landmarks; the first is the label we score against.
            var labels = (row.GetValueOrDefault("landmarks") ?? row.GetValueOrDefault("landmark_id") ?? "")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var landmark = labels.Length > 0 ? labels[0] : null;
            if (landmark is not null && !dataset.Landmarks.ContainsKey(landmark))
            {
                problems.Add(new DatasetProblem(where, $"unknown landmark id '{landmark}' (not in the gallery); query {id} skipped"));
                continue;
            }
            AddIfExists(dataset.Root, queries, new DatasetImage(id!, ImagePath(dataset.Root, split, id!), landmark), where, problems);
        }
        return (queries, problems);
    }

    private static Dataset ReadFolderPerClass(string root, CancellationToken cancellationToken)
    {
        var problems = new List<DatasetProblem>();
        var landmarks = new Dictionary<string, string>(StringComparer.Ordinal);
        var train = new List<DatasetImage>();
        var nonLandmarks = new List<DatasetImage>();
        foreach (var dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = System.IO.Path.GetFileName(dir);
            if (name.StartsWith('.'))
            {
                continue;
            }
            var isNonLandmark = string.Equals(name, NonLandmarkFolder, StringComparison.OrdinalIgnoreCase);
            var files = Directory.EnumerateFiles(dir, "*", System.IO.SearchOption.AllDirectories)
                .Where(f => ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .ToList();
            if (files.Count == 0)
            {
                problems.Add(new DatasetProblem(name, "folder holds no images"));
                continue;
            }
            if (!isNonLandmark)
            {
                landmarks[name] = name;
            }
            foreach (var file in files)
            {
                var id = System.IO.Path.GetRelativePath(root, file).Replace('\\', '/');
                (isNonLandmark ? nonLandmarks : train).Add(new DatasetImage(id, file, isNonLandmark ? null : name));
            }
        }
        if (landmarks.Count == 0)
        {
            throw new InvalidDataException(
                $"'{root}' is neither a GLDv2 dataset (no train.csv) nor a folder-per-class dataset (no sub-folders with images).");
        }
        return new Dataset
        {
            Root = root,
            Layout = DatasetLayout.FolderPerClass,
            Landmarks = landmarks,
            Train = train,
            NonLandmarks = nonLandmarks,
            Problems = problems,
        };
    }

    private static bool ValidId(string? id, string where, List<DatasetProblem> problems)
    {
        if (string.IsNullOrEmpty(id))
        {
            problems.Add(new DatasetProblem(where, "missing id"));
            return false;
        }
        if (id.Length < 3 || !id.All(char.IsAsciiLetterOrDigit))
        {
            problems.Add(new DatasetProblem(where, $"invalid image id '{id}' (expected at least 3 letters or digits)"));
            return false;
        }
        return true;
    }

    private static void AddIfExists(string root, List<DatasetImage> list, DatasetImage image, string where, List<DatasetProblem> problems)
    {
        if (File.Exists(image.Path))
        {
            list.Add(image);
        }
        else
        {
            problems.Add(new DatasetProblem(where, $"image file '{System.IO.Path.GetRelativePath(root, image.Path).Replace('\\', '/')}' is missing"));
        }
    }

    private static IEnumerable<(int Line, Dictionary<string, string> Row)> ReadRows(string path, List<DatasetProblem> problems)
    {
        using var parser = new TextFieldParser(path) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = true };
        parser.SetDelimiters(",");
        var file = System.IO.Path.GetFileName(path);
        string[]? header = null;
        while (!parser.EndOfData)
        {
            var line = parser.LineNumber;
            string[]? fields;
            try
            {
                fields = parser.ReadFields();
            }
            catch (MalformedLineException ex)
            {
                problems.Add(new DatasetProblem($"{file}:{ex.LineNumber}", "malformed CSV line"));
                continue;
            }
            if (fields is null || fields.Length == 0 || (fields.Length == 1 && fields[0].Length == 0))
            {
                continue;
            }
            if (header is null)
            {
                header = fields.Select(h => h.Trim().TrimStart('\uFEFF').ToLowerInvariant()).ToArray();
                continue;
            }
            var row = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < header.Length && i < fields.Length; i++)
            {
                row[header[i]] = fields[i];
            }
            yield return ((int)line, row);
        }
        if (header is null)
        {
            problems.Add(new DatasetProblem(file, "empty CSV (no header)"));
        }
    }
}
