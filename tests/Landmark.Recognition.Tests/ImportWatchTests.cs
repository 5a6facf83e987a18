using Landmark.Datasets;
using Xunit;

namespace Landmark.Recognition.Tests;

/// <summary>How an import follows its images until each one is indexed or rejected: a bounded window of the oldest
/// unsettled images per round, each settled image reported once.</summary>
public class ImportWatchTests
{
    /// <summary>A pipeline that settles images in upload order, <c>perRound</c> of them between two rounds, and counts
    /// the images it is asked about.</summary>
    private sealed class Pipeline(IReadOnlyList<string> ids, int perRound, ISet<string>? settledAtOnce = null)
    {
        private readonly HashSet<string> _settled = new(settledAtOnce ?? new HashSet<string>(), StringComparer.Ordinal);
        private int _frontier;

        public List<int> AskedPerRound { get; } = [];

        public void Advance()
        {
            for (var i = 0; i < perRound && _frontier < ids.Count; i++)
            {
                _settled.Add(ids[_frontier++]);
            }
            AskedPerRound.Add(0);
        }

        public Task<IReadOnlyDictionary<string, (string Id, bool Settled)>> LookupAsync(IReadOnlyList<string> asked, CancellationToken ct)
        {
            AskedPerRound[^1] += asked.Count;
            IReadOnlyDictionary<string, (string, bool)> answers = asked.ToDictionary(id => id, id => (id, _settled.Contains(id)));
            return Task.FromResult(answers);
        }
    }

    private static List<string> Ids(int count) => Enumerable.Range(0, count).Select(i => $"img-{i:D6}").ToList();

    private static ImportWatch<(string Id, bool Settled)> Watch() => new(r => r.Settled);

    /// <summary>A watch of <paramref name="ids"/>, polled after each step of <paramref name="pipeline"/> until nothing is
    /// pending; the ids reported, in the order reported.</summary>
    private static async Task<(ImportWatch<(string Id, bool Settled)> Watch, List<string> Reported)> WatchToTheEndAsync(List<string> ids, Pipeline pipeline)
    {
        var watch = Watch();
        ids.ForEach(watch.Add);
        var reported = new List<string>();
        while (watch.Pending > 0)
        {
            pipeline.Advance();
            reported.AddRange((await watch.PollAsync(pipeline.LookupAsync, CancellationToken.None)).Select(r => r.Id));
            Assert.True(pipeline.AskedPerRound.Count < 100, "the watch did not finish");
        }
        return (watch, reported);
    }

    /// <summary>A lookup that answers every image asked about, settled or not.</summary>
    private static Task<IReadOnlyDictionary<string, (string, bool)>> AnswerAll(IReadOnlyList<string> asked, bool settled) =>
        Task.FromResult<IReadOnlyDictionary<string, (string, bool)>>(asked.ToDictionary(id => id, id => (id, settled)));

    [Fact]
    public async Task Every_image_is_reported_once_and_nothing_stays_pending_when_all_have_settled()
    {
        var ids = Ids(1000);
        var (watch, reported) = await WatchToTheEndAsync(ids, new Pipeline(ids, perRound: 37));

        Assert.Equal(ids, reported);
        Assert.Equal(1000, watch.Count);
    }

    [Fact]
    public async Task A_round_asks_about_one_window_plus_what_settled_not_about_every_pending_image()
    {
        var ids = Ids(20_000);
        var pipeline = new Pipeline(ids, perRound: 50);
        var watch = Watch();
        ids.ForEach(watch.Add);

        for (var round = 0; round < 40; round++)
        {
            pipeline.Advance();
            var settled = (await watch.PollAsync(pipeline.LookupAsync, CancellationToken.None)).Count;

            Assert.Equal(50, settled);
            Assert.True(pipeline.AskedPerRound[^1] <= watch.Window + (2 * settled),
                $"round {round} asked about {pipeline.AskedPerRound[^1]} images with {settled} settled and {watch.Pending} pending");
        }
        Assert.Equal(20_000 - (40 * 50), watch.Pending);
    }

    [Fact]
    public async Task A_pipeline_far_ahead_of_the_watch_is_caught_up_in_one_round()
    {
        var ids = Ids(3000);
        var pipeline = new Pipeline(ids, perRound: 3000);
        var watch = Watch();
        ids.ForEach(watch.Add);

        pipeline.Advance();
        var settled = await watch.PollAsync(pipeline.LookupAsync, CancellationToken.None);

        Assert.Equal(3000, settled.Count);
        Assert.Equal(0, watch.Pending);
    }

    [Fact]
    public async Task An_image_that_settles_out_of_order_is_reported_once_its_window_is_asked_about()
    {
        var ids = Ids(2000);
        var early = ids[^1]; // the newest image, rejected at once
        var (_, reported) = await WatchToTheEndAsync(ids, new Pipeline(ids, perRound: 100, settledAtOnce: new HashSet<string> { early }));

        Assert.Single(reported, early);
        Assert.Equal(ids.Order(), reported.Order());
    }

    [Fact]
    public async Task The_same_image_added_twice_is_followed_once()
    {
        var watch = Watch();
        watch.Add("a");
        watch.Add("b");
        watch.Add("a");

        var settled = await watch.PollAsync((asked, _) => AnswerAll(asked, settled: true), CancellationToken.None);

        Assert.Equal(2, watch.Count);
        Assert.Equal(["a", "b"], settled.Select(r => r.Id));
        Assert.Equal(0, watch.Pending);
    }

    [Fact]
    public async Task An_image_the_lookup_does_not_know_stays_pending()
    {
        var watch = Watch();
        watch.Add("known");
        watch.Add("unknown");

        var settled = await watch.PollAsync((asked, _) =>
            Task.FromResult<IReadOnlyDictionary<string, (string, bool)>>(new Dictionary<string, (string, bool)> { ["known"] = ("known", true) }),
            CancellationToken.None);

        Assert.Equal(["known"], settled.Select(r => r.Id));
        Assert.Equal(1, watch.Pending);
    }

    [Fact]
    public async Task An_image_added_while_a_round_runs_is_asked_about_in_the_next_round()
    {
        var watch = Watch();
        watch.Add("first");
        var asked = new List<string>();

        await watch.PollAsync((ids, _) =>
        {
            asked.AddRange(ids);
            watch.Add("late");
            return AnswerAll(ids, settled: false);
        }, CancellationToken.None);
        Assert.Equal(["first"], asked);
        Assert.Equal(2, watch.Pending);

        var settled = await watch.PollAsync((ids, _) => AnswerAll(ids, settled: true), CancellationToken.None);
        Assert.Equal(["first", "late"], settled.Select(r => r.Id));
        Assert.Equal(0, watch.Pending);
    }

    [Fact]
    public async Task A_round_whose_lookup_fails_reports_nothing_and_keeps_every_image_pending()
    {
        var ids = Ids(600);
        var watch = Watch();
        ids.ForEach(watch.Add);
        var lookups = 0;

        await Assert.ThrowsAsync<IOException>(() => watch.PollAsync((asked, _) =>
            ++lookups < 3 ? AnswerAll(asked, settled: true) : throw new IOException("catalog unavailable"), CancellationToken.None));
        Assert.Equal(600, watch.Pending);

        var settled = await watch.PollAsync((asked, _) => AnswerAll(asked, settled: true), CancellationToken.None);
        Assert.Equal(ids, settled.Select(r => r.Id));
    }
}
