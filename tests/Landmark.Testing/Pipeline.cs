using Landmark.Contracts.Api.V1;

namespace Landmark.Testing;

/// <summary>Waiting for the asynchronous pipeline, as a client of the public API would.</summary>
public static class Pipeline
{
    /// <summary>Polls the catalog until every id is INDEXED or REJECTED; times out with the status counts.</summary>
    public static async Task<IReadOnlyList<ImageRecord>> WaitAsync(IngestService.IngestServiceClient ingest, IReadOnlyCollection<string> ids,
        TimeSpan timeout, string? hint = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var request = new GetImagesRequest();
            request.ImageIds.AddRange(ids);
            var records = (await ingest.GetImagesAsync(request)).Records;
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
}
