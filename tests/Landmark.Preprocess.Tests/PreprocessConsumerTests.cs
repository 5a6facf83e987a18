using Landmark.Contracts.Messages;
using Landmark.HostileCorpus;
using Xunit;
using Xunit.Abstractions;

namespace Landmark.Preprocess.Tests;

public class PreprocessConsumerTests(ITestOutputHelper output)
{
    private static readonly byte[] Photo = Corpus.SkiaJpeg(320, 240);

    [Fact]
    public async Task Images_are_processed_at_most_the_configured_number_at_once()
    {
        await using var p = await PreprocessHarness.StartAsync(new PreprocessOptions { ConcurrencyLimit = 2 }, rawReadDelay: TimeSpan.FromMilliseconds(300));
        var ids = Enumerable.Range(0, 8).Select(i => $"img{i}").ToList();
        foreach (var id in ids)
        {
            await p.IngestAsync(id, Photo);
        }
        var answers = await p.AnswersAsync(ids, TimeSpan.FromMinutes(1));
        Assert.All(ids, id => Assert.IsType<ImagePreprocessed>(answers[id]));
        Assert.Equal(2, p.Store.MaxConcurrentRawReads);
    }

    [Theory]
    [InlineData(3, 3, true)]
    [InlineData(3, 7, true)]
    [InlineData(3, 2, false)]
    [InlineData(0, 50, false)]
    public async Task A_message_delivered_up_to_the_limit_is_rejected_without_being_decoded_again(int limit, int previousDeliveries, bool givenUp)
    {
        await using var p = await PreprocessHarness.StartAsync(new PreprocessOptions { DeliveryLimit = limit });
        await p.IngestAsync("bomb", Photo, c => c.Headers.Set(PreprocessConsumer.DeliveryCountHeader, previousDeliveries));
        var answer = (await p.AnswersAsync(["bomb"], TimeSpan.FromSeconds(30)))["bomb"];
        if (givenUp)
        {
            var rejected = Assert.IsType<ImageRejected>(answer);
            Assert.Equal(PreprocessConsumer.DeliveryLimitCode, rejected.Code);
            Assert.Equal(PreprocessConsumer.Stage, rejected.Stage);
            Assert.Contains($"{previousDeliveries} times", rejected.Reason, StringComparison.Ordinal);
            Assert.Equal(0, p.Store.RawReads); // never read, never decoded
        }
        else
        {
            Assert.IsType<ImagePreprocessed>(answer);
        }
    }

    [Fact]
    public async Task Every_hostile_file_gets_one_answer_through_the_consumer_with_no_server_path_in_it()
    {
        var corpus = Corpus.Build();
        await using var p = await PreprocessHarness.StartAsync(new PreprocessOptions());
        var ids = new List<string>();
        foreach (var file in corpus)
        {
            ids.Add(file.Name);
            await p.IngestAsync(file.Name, file.Bytes);
        }
        var answers = await p.AnswersAsync(ids, TimeSpan.FromMinutes(8));
        var missing = ids.Where(id => !answers.ContainsKey(id)).ToList();
        Assert.True(missing.Count == 0, "no answer for " + string.Join(", ", missing));
        var accepted = 0;
        foreach (var file in corpus)
        {
            switch (answers[file.Name])
            {
                case ImagePreprocessed:
                    accepted++;
                    Assert.NotEqual(Expect.Rejected, file.Expect);
                    break;
                case ImageRejected r:
                    Assert.True(file.Expect != Expect.Accepted, $"{file.Name}: {r.Code}: {r.Reason}");
                    Assert.DoesNotContain(p.StoreRoot, r.Reason, StringComparison.Ordinal);
                    Assert.DoesNotContain("/tmp/", r.Reason, StringComparison.Ordinal);
                    break;
            }
        }
        Assert.Empty(p.Harness.Published.Select<MassTransit.Fault<ImageIngested>>());
        output.WriteLine($"{corpus.Count} files ({Corpus.Summary(corpus)}): {accepted} accepted, {corpus.Count - accepted} rejected");
    }
}
