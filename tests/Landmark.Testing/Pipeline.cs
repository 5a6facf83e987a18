using Google.Protobuf;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;

namespace Landmark.Testing;

/// <summary>Waiting for the asynchronous pipeline, as a client of the public API would.</summary>
public static class Pipeline
{
    /// <summary>Polls the catalog until every id is INDEXED or REJECTED; times out with the status counts.</summary>
    public static async Task<IReadOnlyList<ImageRecord>> WaitAsync(IngestService.IngestServiceClient ingest, IReadOnlyCollection<string> ids,
        TimeSpan timeout, string? hint = null, Grpc.Core.Metadata? headers = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var request = new GetImagesRequest();
            request.ImageIds.AddRange(ids);
            var records = (await ingest.GetImagesAsync(request, headers)).Records;
            if (records.Count == ids.Count && records.All(r => r.Status is ImageStatus.Indexed or ImageStatus.Rejected))
            {
                return records;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"pipeline not finished after {timeout}: {records.Count}/{ids.Count} known, " +
                    string.Join(", ", records.GroupBy(r => r.Status).Select(g => $"{g.Key}={g.Count()}")) + (hint is null ? "" : "; " + hint));
            }
            await Task.Delay(150);
        }
    }

    /// <summary>Uploads one dataset photo through the public API (unary upload); its image id.</summary>
    public static async Task<string> UploadAsync(IngestService.IngestServiceClient ingest, DatasetImage image, ImageRole role = ImageRole.Landmark)
    {
        var response = await ingest.UploadImageAsync(new UploadImageRequest
        {
            Metadata = new ImageMetadata
            {
                FileName = Path.GetFileName(image.Path),
                Role = role,
                LandmarkId = image.LandmarkId ?? "",
                ExternalId = image.Id,
            },
            Content = ByteString.CopyFrom(await File.ReadAllBytesAsync(image.Path)),
        });
        return response.ImageId;
    }

    /// <summary>The first <paramref name="perClass"/> training photos of the first <paramref name="classes"/> landmarks
    /// (by id), uploaded; waits until every one is indexed or rejected.</summary>
    public static async Task<IReadOnlyList<string>> UploadLandmarksAsync(IngestService.IngestServiceClient ingest, Dataset dataset, int classes, int perClass, TimeSpan timeout)
    {
        var ids = new List<string>();
        foreach (var image in dataset.Train.GroupBy(i => i.LandmarkId).OrderBy(g => g.Key, StringComparer.Ordinal).Take(classes).SelectMany(g => g.Take(perClass)))
        {
            ids.Add(await UploadAsync(ingest, image));
        }
        await WaitAsync(ingest, ids, timeout);
        return ids;
    }
}
