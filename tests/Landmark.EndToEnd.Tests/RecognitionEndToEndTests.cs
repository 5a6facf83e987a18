using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using GapResult = Landmark.Contracts.Api.V1.GapResult;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.EndToEnd.Tests;

[Collection(LandmarksMiniCollection.Name)]
public sealed class RecognitionEndToEndTests(LandmarksMiniFixture fixture, ITestOutputHelper output)
{
    /// <summary>Out of the box (the pretrained ImageNet ResNet-18, no training) the platform must reach GAP 0.92 on
    /// `val` (measured 0.985); chance level for 12 landmarks with 96 non-landmark queries is about 0.03.</summary>
    private const double MinimumGap = 0.92;

    [Fact]
    public void Importing_landmarks_mini_indexes_every_train_and_non_landmark_photo()
    {
        var import = fixture.Import;
        output.WriteLine($"import: {import.Total} images, {import.Indexed} indexed, {import.Rejected} rejected in {fixture.ImportDuration.TotalSeconds:F1}s " +
            $"({import.Total / fixture.ImportDuration.TotalSeconds:F1} images/s)");
        Assert.True(import.Done);
        Assert.Equal(555 + 192, import.Total);
        Assert.Equal(import.Total, import.Indexed);
        Assert.Equal(0, import.Rejected);
        Assert.Empty(import.Errors);
    }

    [Fact]
    public async Task Evaluating_val_through_the_grpc_api_scores_a_gap_well_above_chance()
    {
        var dataset = DatasetReader.Read(fixture.DatasetPath);
        var (queries, problems) = dataset.ReadSplit("val");
        Assert.Empty(problems);

        var stopwatch = Stopwatch.StartNew();
        using var call = fixture.Platform.Evaluation.Evaluate();
        foreach (var q in queries)
        {
            await call.RequestStream.WriteAsync(new EvaluationQuery
            {
                Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(q.Path)),
                QueryId = q.Id,
                TrueLandmarkId = q.LandmarkId ?? "",
            });
        }
        await call.RequestStream.CompleteAsync();
        GapResult? result = null;
        var outcomes = 0;
        await foreach (var update in call.ResponseStream.ReadAllAsync())
        {
            outcomes += update.Outcome is null ? 0 : 1;
            result = update.Result ?? result;
        }

        Assert.NotNull(result);
        output.WriteLine($"val: GAP={result.Gap:F4} accuracy={result.Accuracy:F4} queries={result.Queries} " +
            $"({queries.Count / stopwatch.Elapsed.TotalSeconds:F1} queries/s)");
        Assert.Equal(164, result.Queries);
        Assert.Equal(164, outcomes);
        Assert.Equal(68, result.LandmarkQueries);
        Assert.Equal(0, result.Errors);
        Assert.True(result.Gap > MinimumGap, $"GAP {result.Gap:F4} is below the out-of-the-box target {MinimumGap}");
    }

    [Fact]
    public async Task Recognizing_a_gallery_photo_names_its_landmark_and_returns_it_as_nearest_neighbour()
    {
        var dataset = DatasetReader.Read(fixture.DatasetPath);
        var photo = dataset.Train[17];
        var answer = await fixture.Platform.Recognition.RecognizeAsync(new RecognizeRequest
        {
            Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(photo.Path)),
            TopK = 3,
            RequestId = "r1",
        });
        Assert.Equal("r1", answer.RequestId);
        Assert.Equal(photo.LandmarkId, answer.LandmarkId);
        Assert.Equal(dataset.Landmarks[photo.LandmarkId!], answer.LandmarkName);
        Assert.Equal(3, answer.Neighbours.Count);
        Assert.Equal(photo.Id, answer.Neighbours[0].ExternalId);
        Assert.True(answer.Neighbours[0].Similarity > 0.99);
        Assert.InRange(answer.Confidence, 0, 1);
        Assert.False(string.IsNullOrEmpty(answer.ModelVersion));
    }

    [Fact]
    public async Task Recognize_stream_answers_every_request_in_order()
    {
        var dataset = DatasetReader.Read(fixture.DatasetPath);
        var photos = dataset.Train.Where((_, i) => i % 50 == 0).ToList();
        using var call = fixture.Platform.Recognition.RecognizeStream();
        var reader = Task.Run(async () =>
        {
            var answers = new List<RecognizeResponse>();
            await foreach (var a in call.ResponseStream.ReadAllAsync())
            {
                answers.Add(a);
            }
            return answers;
        });
        foreach (var p in photos)
        {
            await call.RequestStream.WriteAsync(new RecognizeRequest { Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(p.Path)), RequestId = p.Id });
        }
        await call.RequestStream.CompleteAsync();
        var received = await reader;
        Assert.Equal(photos.Select(p => p.Id), received.Select(a => a.RequestId));
        Assert.Equal(photos.Select(p => p.LandmarkId), received.Select(a => a.LandmarkId));
    }

    [Fact]
    public async Task Find_similar_by_image_id_returns_that_image_first()
    {
        var dataset = DatasetReader.Read(fixture.DatasetPath);
        var photo = dataset.Train[42];
        var upload = await fixture.Platform.Ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata { FileName = "again.jpg", Role = ImageRole.Landmark, LandmarkId = photo.LandmarkId },
            Content = ByteString.CopyFrom(await File.ReadAllBytesAsync(photo.Path)),
        });
        Assert.True(upload.Duplicate);
        var similar = await fixture.Platform.Recognition.FindSimilarAsync(new FindSimilarRequest { ImageId = upload.ImageId, TopK = 4 });
        Assert.Equal(4, similar.Neighbours.Count);
        Assert.Equal(upload.ImageId, similar.Neighbours[0].ImageId);
        Assert.Equal(photo.Id, similar.Neighbours[0].ExternalId);
    }

    [Fact]
    public async Task Importing_the_same_dataset_again_stores_nothing_new()
    {
        using var call = fixture.Platform.Ingest.ImportDataset(new ImportDatasetRequest { Path = fixture.DatasetPath });
        ImportProgress? last = null;
        await foreach (var p in call.ResponseStream.ReadAllAsync())
        {
            last = p;
        }
        Assert.NotNull(last);
        Assert.True(last.Done);
        Assert.Equal(last.Total, last.Duplicates);
        var stats = await fixture.Platform.Ingest.GetStatsAsync(new GetStatsRequest());
        Assert.Equal(555 + 192, stats.Total);
        Assert.Equal(12, stats.Landmarks);
    }
}
