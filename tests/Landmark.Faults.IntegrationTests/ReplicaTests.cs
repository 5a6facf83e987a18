using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Net.Client;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;
using Landmark.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Faults.IntegrationTests;

/// <summary>Scaled services share the load: with two embedder processes behind one address, the scorer's calls reach
/// both (client-side round-robin over every replica), and gallery images are embedded by both (competing consumers).</summary>
[Collection(FaultCollection.Name)]
public sealed partial class ReplicaTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Two_embedder_replicas_both_serve_recognition_queries()
    {
        await using var cluster = await ProcessCluster.StartAsync(embedderReplicas: 2);
        var dataset = DatasetReader.Read(TestPaths.RequireLandmarksMini());
        var gallery = dataset.Train.Where((_, i) => i % 25 == 0).Take(12).ToList();
        var ids = new List<string>();
        foreach (var image in gallery)
        {
            var metadata = new ImageMetadata { FileName = Path.GetFileName(image.Path), Role = ImageRole.Landmark, LandmarkId = image.LandmarkId ?? "", ExternalId = image.Id };
            ids.Add((await cluster.UploadWithRetryAsync(await File.ReadAllBytesAsync(image.Path), metadata, TimeSpan.FromMinutes(2))).ImageId);
        }
        await cluster.WaitForPipelineAsync(ids, TimeSpan.FromMinutes(3));

        using var channel = GrpcChannel.ForAddress(cluster["scorer"].Address, new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        var recognition = new RecognitionService.RecognitionServiceClient(channel);
        const int queries = 24;
        var answers = 0;
        for (var i = 0; i < queries; i++)
        {
            var response = await recognition.RecognizeAsync(new RecognizeRequest { Image = ByteString.CopyFrom(await File.ReadAllBytesAsync(gallery[i % gallery.Count].Path)) },
                deadline: DateTime.UtcNow.AddSeconds(60));
            answers += response.ModelVersion.Length > 0 ? 1 : 0;
        }

        var served = new[] { cluster["embedder"] }.Concat(cluster.ExtraEmbedders).Select(e => QueryRequests().Matches(e.Log).Count).ToList();
        output.WriteLine($"{queries} recognitions; embed calls served per embedder replica: {string.Join(", ", served)}");
        Assert.Equal(queries, answers);
        Assert.Equal(queries, served.Sum());
        Assert.All(served, count => Assert.True(count >= queries / 4, $"a replica served {count} of {queries} calls: {string.Join(", ", served)}"));
    }

    [GeneratedRegex(@"Request starting HTTP/2 POST http://127\.0\.0\.1:\d+/landmark\.internal\.v1\.EmbedderService/Embed")]
    private static partial Regex QueryRequests();
}
