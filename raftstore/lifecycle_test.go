package raftstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// The harness itself: an election, a replicated write, and a split, all
// stepped by hand, with the invariants checked at every apply.
func TestHarnessBasics(t *testing.T) {
	h := newHarness(t, 3, 3, nil)
	h.checkData = true
	h.elect(1, 1)
	o := h.propose(1, putCmd(1, "a", "1"))
	h.settle()
	if e := o.err(); e != nil {
		t.Fatalf("put: %s", *e)
	}
	// Followers learn the commit lazily: a tick's heartbeat carries it.
	h.ticks(2)
	for _, id := range h.ids {
		if v, ok := h.store(id).get("a"); !ok || v != "1" {
			h.fatalf("store %d: a = %q %t", id, v, ok)
		}
	}
	so := h.split(1, 1, "m")
	h.settle()
	if e := so.err(); e != nil {
		t.Fatalf("split: %s", *e)
	}
	h.ticks(2)
	for _, id := range h.ids {
		if n := len(h.store(id).regionIDs()); n != 2 {
			t.Fatalf("store %d has %d regions after the split", id, n)
		}
	}
	h.checkAll()
	h.checkSettled()
}

// lagTune makes log GC eager, so a follower that misses a few entries
// needs a snapshot.
func lagTune(c *Config) {
	c.RaftLogGCCountLimit = 5
}

// applyQueueHas reports whether the store's apply queue holds a task of the
// region whose entries include an admin command of the given kind
// (checked by a predicate on the task).
func (hs *hStore) applyQueue() []*applyTask {
	w := hs.s.applier.workers[0]
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.queue)
}

// newReplicatedCluster is three stores with region 1 led by store 1 and
// keys a and x written on every replica.
func newReplicatedCluster(t *testing.T, tune func(*Config)) *harness {
	h := newHarness(t, 3, 3, tune)
	h.checkData = true
	h.elect(1, 1)
	for _, k := range []string{"a", "x"} {
		if e := h.propose(1, putCmd(1, k, "v0")).err(); e != nil && *e != "no answer" {
			t.Fatalf("put %s: %s", k, *e)
		}
	}
	h.settle()
	h.ticks(2)
	for _, id := range h.ids {
		if v, _ := h.store(id).get("x"); v != "v0" {
			h.fatalf("store %d did not apply the setup writes", id)
		}
	}
	return h
}

// splitPendingOn splits region 1 at "m" (led by store 1) so that store
// lagger has the split committed and handed to its apply worker, but not
// applied; it returns the new region's ID.
func (h *harness) splitPendingOn(lagger uint64) uint64 {
	h.t.Helper()
	o := h.split(1, 1, "m")
	h.settleWith(holdSteps(lagger, hApply))
	if e := o.err(); e != nil {
		h.fatalf("split: %s", *e)
	}
	var newID uint64
	for _, id := range h.store(1).regionIDs() {
		if id != 1 {
			newID = id
		}
	}
	if newID == 0 || h.store(lagger).peer(newID) != nil {
		h.fatalf("split not applied on the leader, or already acted on by store %d", lagger)
	}
	found := false
	for _, t := range h.store(lagger).applyQueue() {
		if t.kind == taskEntries && t.regionID == 1 {
			found = true
		}
	}
	if !found {
		h.fatalf("store %d has no committed entries of region 1 waiting for apply", lagger)
	}
	return newID
}

// Race 1, first way: a follower has a split committed and queued for apply
// when a snapshot of the parent (log GC cut the follower off) arrives. The
// snapshot must not be applied over the pre-split range before the split's
// result created the new region's peer: that would delete the new region's
// data and drop the split's result, leaving the new region Normal on disk
// with no peer and no data.
func TestLifecycleSnapshotAfterPendingSplit(t *testing.T) {
	h := newReplicatedCluster(t, lagTune)
	newID := h.splitPendingOn(3)

	// Store 3 is cut off (and its apply worker still busy elsewhere) while
	// the parent takes writes and compacts its log past store 3.
	cut := anyHold(isolate(3), holdSteps(3, hApply))
	for i := 0; i < 12; i++ {
		h.propose(1, putCmd(1, fmt.Sprintf("b%d", i), "v1"))
		h.settleWith(cut)
		h.dropFor(3)
	}
	for i := 0; i < 3; i++ {
		h.ticksWith(1, cut)
		h.dropFor(3)
	}
	if tr := h.store(1).peer(1).ps.truncated.Index; tr <= h.store(3).peer(1).ps.raftState.LastIndex {
		h.fatalf("leader's log not compacted past store 3 (truncated %d)", tr)
	}

	// Heal the network, still without store 3's apply worker: the leader
	// sends a snapshot of the post-split parent, and store 3's raft takes
	// it while the split waits in its apply queue.
	h.ticksWith(3, holdSteps(3, hApply))
	if !h.store(3).peer(1).rn.HasPendingSnapshot() && h.store(3).peer(1).pendingSnap == nil {
		h.fatalf("store 3 has no snapshot of region 1 in hand")
	}

	// Now everything runs.
	h.settle()
	h.ticks(4)
	h.checkAll()
	h.checkSettled()
	p := h.store(3).peer(newID)
	if p == nil || !p.ps.isInitialized() {
		h.fatalf("store 3 has no live peer of the split's new region %d", newID)
	}
	if v, ok := h.store(3).get("x"); !ok || v != "v0" {
		h.fatalf("store 3 lost the new region's data: x = %q %t", v, ok)
	}
	if r := h.store(3).peer(1).region; string(r.EndKey) != "m" {
		h.fatalf("store 3's parent region is %s after the snapshot", describeRegion(r))
	}
}

// removePeer removes store's peer of a region through the leader (store
// leader) and settles with hold; it fails the test unless the change
// applies on the leader.
func (h *harness) removePeer(leader, regionID, store uint64, hold func(uint64, string) bool) {
	h.t.Helper()
	pr := storePeer(h.store(leader).peer(regionID).region, store)
	o := h.propose(leader, changePeerCmd(regionID, eraftpb.ConfChangeType_RemoveNode, pr))
	h.settleWith(hold)
	if e := o.err(); e != nil {
		h.fatalf("remove store %d's peer of region %d: %s", store, regionID, *e)
	}
}

// tombstoneFor is the message a member sends a removed peer
// (maybeAnswerStale).
func (h *harness) tombstoneFor(from, to, regionID uint64) *rspb.RaftMessage {
	lp := h.store(from).peer(regionID)
	return &rspb.RaftMessage{RegionId: regionID, FromPeer: lp.meta, ToPeer: storePeer(h.store(to).peer(regionID).region, to),
		RegionEpoch: lp.region.RegionEpoch, IsTombstone: true}
}

// Race 1, second way: a removed peer is told so (a tombstone message) while
// a split it applies is still queued for its apply worker, or its result is
// still in the mailbox. The destroy must wait for the split: destroying the
// pre-split range would delete the new region's data (this store still
// holds a peer of it) and drop the split's result.
func TestLifecycleDestroyAfterPendingSplit(t *testing.T) {
	for _, resultQueued := range []bool{false, true} {
		t.Run(fmt.Sprintf("result-in-mailbox=%t", resultQueued), func(t *testing.T) {
			h := newReplicatedCluster(t, nil)
			newID := h.splitPendingOn(3)
			cut := anyHold(isolate(3), holdSteps(3, hApply))
			h.removePeer(1, 1, 3, cut)
			h.dropFor(3)

			s3 := h.store(3)
			tomb := h.tombstoneFor(1, 3, 1)
			if resultQueued {
				// The split applies first; its report and the tombstone
				// wait in the mailbox, the tombstone first.
				_ = s3.s.HandleRaftMessage(tomb)
				if !s3.apply(0) {
					h.fatalf("store 3 had nothing to apply")
				}
			} else {
				_ = s3.s.HandleRaftMessage(tomb)
			}
			// Store 3's raft worker takes the tombstone while the split
			// is unapplied or unreported.
			if !s3.raftRound(1) {
				h.fatalf("store 3 had no round for region 1")
			}
			h.settle()
			h.ticks(4)
			h.checkAll()
			h.checkSettled()
			if p := s3.peer(1); p != nil {
				h.fatalf("store 3 still has a peer of region 1 (destroyed %t)", p.destroyed)
			}
			p := s3.peer(newID)
			if p == nil || !p.ps.isInitialized() {
				h.fatalf("store 3 has no live peer of the split's new region %d", newID)
			}
			if v, ok := s3.get("x"); !ok || v != "v0" {
				h.fatalf("store 3 lost the new region's data: x = %q %t", v, ok)
			}
			if _, ok := s3.get("a"); ok {
				h.fatalf("store 3 kept the destroyed region's data")
			}
		})
	}
}
