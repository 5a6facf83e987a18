using Landmark.Contracts.Messages;
using Landmark.Ingest;
using Xunit;

namespace Landmark.Rollout.Tests;

public sealed class RolloutTrackerTests
{
    private const string Old = "model-old";
    private const string New = "model-new";
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static CatalogRecord Indexed(string id, params string[] versions) => new()
    {
        ImageId = id,
        FileName = id + ".jpg",
        Role = GalleryRole.Landmark,
        LandmarkId = "l",
        Status = CatalogStatus.Indexed,
        ModelVersion = versions[^1],
        IndexedVersions = versions,
    };

    private static CatalogRecord Preprocessed(string id) => new()
    {
        ImageId = id,
        FileName = id + ".jpg",
        Role = GalleryRole.Landmark,
        Status = CatalogStatus.Preprocessed,
    };

    [Fact]
    public void Begin_requests_the_indexed_images_the_target_lacks_and_counts_the_others_done()
    {
        var tracker = new RolloutTracker();
        var (reembed, completed) = tracker.Begin(New, [Indexed("a", Old), Indexed("b", Old, New), Indexed("c", Old), Preprocessed("d")], T0);

        Assert.False(completed);
        Assert.Equal(["a", "c"], reembed.Select(r => r.ImageId).Order());
        Assert.Equal(3, tracker.Total);
        Assert.Equal(1, tracker.Done);
        Assert.Equal(New, tracker.State.Target);
    }

    [Fact]
    public void Rollout_completes_exactly_once_when_the_last_pending_image_is_indexed_with_the_target()
    {
        var tracker = new RolloutTracker();
        tracker.Begin(New, [Indexed("a", Old), Indexed("b", Old)], T0);

        Assert.False(tracker.OnIndexed(Indexed("a", Old, New), New).Completed);
        Assert.False(tracker.OnIndexed(Indexed("a", Old, New), New).Completed); // redelivered
        Assert.Equal(1, tracker.Done);
        Assert.True(tracker.OnIndexed(Indexed("b", Old, New), New).Completed);
        Assert.False(tracker.OnIndexed(Indexed("b", Old, New), New).Completed); // redelivered
        Assert.True(tracker.State.Completed);
        Assert.Equal(2, tracker.Done);
    }

    [Fact]
    public void An_empty_gallery_or_one_already_indexed_with_the_target_is_complete_at_once()
    {
        var empty = new RolloutTracker();
        Assert.True(empty.Begin(New, [], T0).Completed);

        var done = new RolloutTracker();
        var (reembed, completed) = done.Begin(New, [Indexed("a", Old, New)], T0);
        Assert.True(completed);
        Assert.Empty(reembed);
    }

    [Fact]
    public void An_image_indexed_with_the_live_model_during_the_rollout_is_requested_once_and_waited_for()
    {
        var tracker = new RolloutTracker();
        tracker.Begin(New, [Indexed("a", Old)], T0);

        Assert.Equal(New, tracker.OnIndexed(Indexed("fresh", Old), Old).ReembedWith);
        Assert.Null(tracker.OnIndexed(Indexed("fresh", Old), Old).ReembedWith); // redelivered: not requested twice
        Assert.Equal(2, tracker.Total);

        Assert.False(tracker.OnIndexed(Indexed("a", Old, New), New).Completed);
        Assert.True(tracker.OnIndexed(Indexed("fresh", Old, New), New).Completed);
    }

    [Fact]
    public void After_activation_an_image_indexed_with_another_model_is_reembedded_with_the_live_one()
    {
        var tracker = new RolloutTracker();
        tracker.Begin(New, [Indexed("a", Old)], T0);
        tracker.OnIndexed(Indexed("a", Old, New), New);
        Assert.True(tracker.Activate(New, T0.AddMinutes(1)));
        Assert.Null(tracker.State.Target);
        Assert.Equal(New, tracker.State.Live);

        // An embedder replica that had not switched yet indexes a new image with the old model.
        Assert.Equal(New, tracker.OnIndexed(Indexed("late", Old), Old).ReembedWith);
        Assert.Null(tracker.OnIndexed(Indexed("late", Old, New), New).ReembedWith);
    }

    [Fact]
    public void A_stale_activation_does_not_move_the_live_model_back()
    {
        var tracker = new RolloutTracker();
        Assert.True(tracker.Activate(New, T0.AddMinutes(2)));
        Assert.False(tracker.Activate(Old, T0.AddMinutes(1)));
        Assert.Equal(New, tracker.State.Live);
        Assert.True(tracker.Activate(New, T0.AddMinutes(2))); // the same activation again
    }

    [Fact]
    public void An_image_that_cannot_be_reembedded_is_left_out_and_the_rollout_completes_without_it()
    {
        var tracker = new RolloutTracker();
        tracker.Begin(New, [Indexed("a", Old), Indexed("broken", Old)], T0);
        tracker.OnIndexed(Indexed("a", Old, New), New);

        Assert.False(tracker.OnSkipped("broken", "some-other-model"));
        Assert.True(tracker.OnSkipped("broken", New));
        Assert.False(tracker.OnSkipped("broken", New));
        Assert.Equal(1, tracker.Skipped);
        Assert.Equal(2, tracker.Done);
    }

    [Fact]
    public void A_new_target_supersedes_the_rollout_in_progress_and_the_same_target_resumes_it()
    {
        var tracker = new RolloutTracker();
        tracker.Begin(New, [Indexed("a", Old), Indexed("b", Old)], T0);
        tracker.OnIndexed(Indexed("a", Old, New), New);

        var (resumed, _) = tracker.Begin(New, [Indexed("a", Old, New), Indexed("b", Old)], T0.AddMinutes(1));
        Assert.Equal(["b"], resumed.Select(r => r.ImageId));
        Assert.Equal(T0, tracker.State.StartedAt);

        var (superseding, completed) = tracker.Begin(Old, [Indexed("a", Old, New), Indexed("b", Old)], T0.AddMinutes(2));
        Assert.Empty(superseding);
        Assert.True(completed);
        Assert.Equal(Old, tracker.State.Target);
        // Late results of the superseded roll-out change nothing.
        Assert.False(tracker.OnIndexed(Indexed("b", Old, New), New).Completed);
    }

    [Fact]
    public void Restore_rebuilds_the_pending_set_from_the_records()
    {
        var tracker = new RolloutTracker();
        var snapshot = new RolloutSnapshot(New, Old, T0, T0, Completed: false);
        var pending = tracker.Restore(snapshot, [Indexed("a", Old, New), Indexed("b", Old), Preprocessed("c")]);

        Assert.Equal(["b"], pending.Select(r => r.ImageId));
        Assert.True(tracker.OnIndexed(Indexed("b", Old, New), New).Completed);
    }

    [Fact]
    public void A_record_from_before_rollouts_keeps_its_model_when_indexed_with_another()
    {
        var legacy = Indexed("a", Old) with { IndexedVersions = [] };
        Assert.True(legacy.IsIndexedWith(Old));

        var both = legacy.WithIndexed(New);
        Assert.Equal([Old, New], both.IndexedVersions);
        Assert.Equal(New, both.ModelVersion);
        Assert.True(both.IsIndexedWith(Old));
        Assert.Same(both, both.WithIndexed(Old));
        Assert.False(Preprocessed("p").IsIndexedWith(Old));
    }

    [Fact]
    public void A_replica_that_follows_a_rollout_started_elsewhere_requests_reembeds_but_never_declares_it_complete()
    {
        var follower = new RolloutTracker();
        Assert.True(follower.Follow(New, T0));
        Assert.False(follower.Follow(New, T0)); // repeated

        Assert.Equal(New, follower.OnIndexed(Indexed("fresh", Old), Old).ReembedWith);
        Assert.False(follower.OnIndexed(Indexed("fresh", Old, New), New).Completed);
        Assert.False(follower.State.Completed);
        Assert.False(follower.IsOwner);
    }

    [Fact]
    public void Starting_the_rollout_after_following_it_takes_over_completion_tracking()
    {
        var tracker = new RolloutTracker();
        tracker.Follow(New, T0);
        var (reembed, _) = tracker.Begin(New, [Indexed("a", Old)], T0.AddSeconds(1));

        Assert.True(tracker.IsOwner);
        Assert.Equal(T0, tracker.State.StartedAt);
        Assert.Equal(["a"], reembed.Select(r => r.ImageId));
        Assert.True(tracker.OnIndexed(Indexed("a", Old, New), New).Completed);
    }

    [Fact]
    public void Reconcile_from_storage_adds_images_indexed_through_another_replica_and_completes_when_storage_says_all_are_done()
    {
        var owner = new RolloutTracker();
        owner.Begin(New, [Indexed("a", Old), Indexed("b", Old, New)], T0);
        // Another replica ingested "c" with the live model and indexed "a" with the target: events this one never saw.
        var (newlyPending, completed) = owner.Reconcile([Indexed("a", Old, New), Indexed("b", Old, New), Indexed("c", Old), Preprocessed("d")]);

        Assert.False(completed);
        Assert.Equal(["c"], newlyPending.Select(r => r.ImageId));
        Assert.Equal(["c"], owner.Pending);
        Assert.Equal(3, owner.Total);
        // A repeat asks for nothing new.
        Assert.Empty(owner.Reconcile([Indexed("a", Old, New), Indexed("b", Old, New), Indexed("c", Old)]).NewlyPending);

        var (none, done) = owner.Reconcile([Indexed("a", Old, New), Indexed("b", Old, New), Indexed("c", Old, New)]);
        Assert.Empty(none);
        Assert.True(done);
        Assert.True(owner.State.Completed);
        Assert.False(owner.Reconcile([Indexed("a", Old, New), Indexed("b", Old, New), Indexed("c", Old, New)]).Completed); // once
    }

    [Fact]
    public void Reconcile_leaves_skipped_images_out_and_never_completes_on_a_follower()
    {
        var owner = new RolloutTracker();
        owner.Begin(New, [Indexed("a", Old), Indexed("broken", Old)], T0);
        owner.OnSkipped("broken", New);
        Assert.True(owner.Reconcile([Indexed("a", Old, New), Indexed("broken", Old)]).Completed);

        var follower = new RolloutTracker();
        follower.Follow(New, T0);
        var (newlyPending, completed) = follower.Reconcile([Indexed("a", Old, New), Indexed("x", Old)]);
        Assert.Equal(["x"], newlyPending.Select(r => r.ImageId));
        Assert.False(completed);
        Assert.False(follower.Reconcile([Indexed("a", Old, New), Indexed("x", Old, New)]).Completed);
        Assert.False(follower.State.Completed);
    }

    [Fact]
    public void Snapshot_transitions_of_two_replicas_keep_both_changes_in_either_order()
    {
        var stored = new RolloutSnapshot(null, Old, T0, null, false);
        RolloutSnapshot Begin(RolloutSnapshot s) => s.Started(New, T0.AddMinutes(1));
        RolloutSnapshot Activate(RolloutSnapshot s) => s.Activated(Old, T0.AddMinutes(2));

        var one = Activate(Begin(stored));
        var other = Begin(Activate(stored));
        Assert.Equal(one, other);
        Assert.Equal(New, one.Target);
        Assert.Equal(T0.AddMinutes(2), one.LiveSince);

        // Completion only applies to its own target; activating the target ends the roll-out; a stale activation is ignored.
        Assert.Same(one, one.CompletedFor("another"));
        Assert.True(one.CompletedFor(New).Completed);
        var live = one.CompletedFor(New).Activated(New, T0.AddMinutes(3));
        Assert.Equal(new RolloutSnapshot(null, New, T0.AddMinutes(3), null, false), live);
        Assert.Same(live, live.Activated(Old, T0.AddMinutes(2)));
    }
}
