using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;

namespace Landmark.Recognition.Tests;

public class DatasetReaderTests
{
    [Fact]
    public void Shared_landmarks_mini_dataset_reads_as_gldv2_with_every_file_present()
    {
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        Assert.Equal(DatasetLayout.Gldv2, dataset.Layout);
        Assert.Equal(12, dataset.Landmarks.Count);
        Assert.Equal(555, dataset.Train.Count);
        Assert.Equal(192, dataset.NonLandmarks.Count);
        Assert.Empty(dataset.Problems);
        var (queries, problems) = dataset.ReadSplit("val");
        Assert.Empty(problems);
        Assert.Equal(164, queries.Count);
        Assert.Equal(68, queries.Count(q => q.LandmarkId is not null));
        Assert.All(queries, q => Assert.True(File.Exists(q.Path)));
    }

    [Fact]
    public void Unknown_landmark_ids_and_missing_files_are_reported_and_skipped()
    {
        using var dir = TestPaths.CreateTempDirectory();
        WriteImage(dir.Path, "train", "abc001");
        WriteImage(dir.Path, "train", "abc002");
        WriteImage(dir.Path, "val", "abd001");
        File.WriteAllText(Path.Combine(dir.Path, "landmarks.csv"), "landmark_id,name\n1,Tower\n");
        File.WriteAllText(Path.Combine(dir.Path, "train.csv"), "id,landmark_id\nabc001,1\nabc002,999\nabc003,1\n,1\nab/../x,1\n");
        File.WriteAllText(Path.Combine(dir.Path, "val.csv"), "id,landmarks\nabd001,\nabd001,7\n");

        var dataset = DatasetReader.Read(dir.Path);
        var single = Assert.Single(dataset.Train);
        Assert.Equal("abc001", single.Id);
        Assert.Contains(dataset.Problems, p => p.Reason.Contains("unknown landmark id '999'", StringComparison.Ordinal));
        Assert.Contains(dataset.Problems, p => p.Reason.Contains("missing", StringComparison.Ordinal));
        Assert.Contains(dataset.Problems, p => p.Reason.Contains("invalid image id", StringComparison.Ordinal));

        var (queries, problems) = dataset.ReadSplit("val");
        Assert.Null(Assert.Single(queries).LandmarkId);
        Assert.Contains(problems, p => p.Reason.Contains("unknown landmark id '7'", StringComparison.Ordinal));
    }

    [Fact]
    public void Folder_per_class_directory_maps_folders_to_landmarks_and_non_landmark_to_distractors()
    {
        using var dir = TestPaths.CreateTempDirectory();
        foreach (var (folder, file) in new[] { ("eiffel", "1.jpg"), ("eiffel", "2.png"), ("big-ben", "a.jpg"), ("non-landmark", "cat.jpg") })
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, folder));
            File.WriteAllBytes(Path.Combine(dir.Path, folder, file), [1, 2, 3]);
        }
        File.WriteAllText(Path.Combine(dir.Path, "eiffel", "notes.txt"), "not an image");

        var dataset = DatasetReader.Read(dir.Path);
        Assert.Equal(DatasetLayout.FolderPerClass, dataset.Layout);
        Assert.Equal(["big-ben", "eiffel"], dataset.Landmarks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, dataset.Train.Count);
        Assert.Equal("eiffel", dataset.Train.Single(i => i.Path.EndsWith("2.png", StringComparison.Ordinal)).LandmarkId);
        Assert.Null(Assert.Single(dataset.NonLandmarks).LandmarkId);
    }

    [Fact]
    public void Directory_without_train_csv_or_class_folders_is_a_clear_error()
    {
        using var dir = TestPaths.CreateTempDirectory();
        var error = Assert.Throws<InvalidDataException>(() => DatasetReader.Read(dir.Path));
        Assert.Contains("neither a GLDv2 dataset", error.Message, StringComparison.Ordinal);
        Assert.Throws<DirectoryNotFoundException>(() => DatasetReader.Read(Path.Combine(dir.Path, "missing")));
    }

    [Fact]
    public void Split_names_cannot_escape_the_dataset_directory()
    {
        using var dir = TestPaths.CreateTempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "train.csv"), "id,landmark_id\n");
        var dataset = DatasetReader.Read(dir.Path);
        Assert.Throws<ArgumentException>(() => dataset.ReadSplit("../etc"));
        Assert.Throws<FileNotFoundException>(() => dataset.ReadSplit("test"));
    }

    private static void WriteImage(string root, string split, string id)
    {
        var path = DatasetReader.ImagePath(root, split, id);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [0xFF, 0xD8, 0xFF]);
    }
}
