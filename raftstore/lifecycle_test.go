package raftstore

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
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

// deliverTo delivers every message in flight to store, oldest first.
func (h *harness) deliverTo(store uint64) int {
	n := 0
	for i := 0; i < len(h.net); {
		if h.net[i].to == store {
			h.deliver(i)
			n++
			continue
		}
		i++
	}
	return n
}

// Race 2, election: a peer wins an election in the round that also brings
// a client's membership change. Its role bookkeeping must run before the
// proposal, or the conf-change barrier (a new leader's first change waits
// for an entry of its term to apply: the single-server membership change
// bug) is skipped, and the store's leader count and the heartbeat on
// election with it.
func TestLifecycleRoleChangeWithRequestInSameRound(t *testing.T) {
	h := newReplicatedCluster(t, nil)
	s2 := h.store(2)
	p2 := s2.peer(1)
	h.propose(1, transferCmd(1, p2.meta))
	// Until store 2's votes are answered, without store 2 taking them.
	h.settleWith(holdSteps(2, hRecv))
	if h.deliverTo(2) == 0 { // MsgTimeoutNow
		h.fatalf("no MsgTimeoutNow for store 2")
	}
	h.settleWith(holdSteps(2, hRecv))
	if h.deliverTo(2) == 0 { // the vote responses
		h.fatalf("no vote responses for store 2")
	}
	if p2.isLeader() || p2.rn.BasicStatus().SoftState.RaftState.String() == "StateLeader" {
		h.fatalf("store 2 won before its round")
	}
	leaders := s2.s.leaderCount.Load()
	add := h.propose(2, changePeerCmd(1, eraftpb.ConfChangeType_RemoveNode, storePeer(p2.region, 3)))
	if !s2.raftRound(1) {
		h.fatalf("store 2 had no round")
	}
	if !p2.isLeader() {
		h.fatalf("store 2 did not win in the round")
	}
	if !add.done || add.resp.GetHeader().GetError().GetServerIsBusy() == nil {
		h.fatalf("a membership change was accepted before the new leader's first entry applied: %v", add.resp)
	}
	if got := s2.s.leaderCount.Load(); got != leaders+1 {
		h.fatalf("store 2 counts %d leaders, want %d", got, leaders+1)
	}
	if p2.confChangeBarrier <= p2.ps.applied {
		h.fatalf("no conf-change barrier: barrier %d, applied %d", p2.confChangeBarrier, p2.ps.applied)
	}
	h.settle()
	h.ticks(2)
	// Once the new term's entry applied, the change goes through.
	h.removePeer(2, 1, 3, nil)
	h.checkAll()
}

// Race 2, step-down: a leader that steps down on a tick (check-quorum) in
// the round that also brings a client request must fail its pending reads
// at once, not leave them to time out, and stop counting itself a leader.
func TestLifecycleStepDownWithRequestInSameRound(t *testing.T) {
	h := newReplicatedCluster(t, nil)
	s1 := h.store(1)
	var read *ReadResult
	s1.s.Read(&raft_cmdpb.RaftRequestHeader{RegionId: 1, RegionEpoch: s1.peer(1).region.RegionEpoch},
		func(r ReadResult) { read = &r })
	cut := isolate(1)
	h.settleWith(cut)
	h.dropFor(1)
	if read != nil {
		h.fatalf("read answered without a quorum: %+v", read)
	}
	leaders := s1.s.leaderCount.Load()
	for i := 0; i < 3*h.cfg.ElectionTicks && s1.peer(1).rn.BasicStatus().SoftState.RaftState.String() == "StateLeader"; i++ {
		h.tick()
		// The tick's round also carries a client request.
		h.propose(1, putCmd(1, "q", "1"))
		s1.raftRound(1)
		h.settleWith(cut)
		h.dropFor(1)
	}
	if s1.peer(1).rn.BasicStatus().SoftState.RaftState.String() == "StateLeader" {
		h.fatalf("the cut-off leader never stepped down")
	}
	if read == nil || read.Err == nil || read.Err.NotLeader == nil {
		h.fatalf("pending read not failed with NotLeader on the step-down: %+v", read)
	}
	if got := s1.s.leaderCount.Load(); got != leaders-1 {
		h.fatalf("store 1 counts %d leaders after stepping down, want %d", got, leaders-1)
	}
}

// lagBehind cuts store off, writes n keys to region 1 through store 1 and
// ticks until store 1's log GC left store behind (it will need a
// snapshot).
func (h *harness) lagBehind(store uint64, n int, prefix string) {
	h.t.Helper()
	cut := isolate(store)
	for i := 0; i < n; i++ {
		h.propose(1, putCmd(1, fmt.Sprintf("%s%d", prefix, i), "v1"))
		h.settleWith(cut)
		h.dropFor(store)
	}
	for i := 0; i < 3; i++ {
		h.ticksWith(1, cut)
		h.dropFor(store)
	}
	if tr := h.store(1).peer(1).ps.truncated.Index; tr <= h.store(store).peer(1).ps.raftState.LastIndex {
		h.fatalf("store 1's log not compacted past store %d (truncated %d)", store, tr)
	}
}

// Race 3: a crash while a snapshot is being applied must replay exactly
// that snapshot on restart, even when a newer snapshot file of the region
// (taken after a split) was received meanwhile; replaying the newest file
// under the older snapshot's region would give a peer claiming the
// pre-split range at a post-split index.
func TestLifecycleInterruptedSnapshotReplaysItsOwnFile(t *testing.T) {
	h := newReplicatedCluster(t, lagTune)
	s3 := h.store(3)
	h.lagBehind(3, 12, "b")
	// Store 3 receives snapshot X of the unsplit region and starts applying
	// it; its apply worker is held.
	h.ticksWith(3, holdSteps(3, hApply))
	var x *snapApply
	if p := s3.peer(1); p.pendingSnap != nil {
		x = p.pendingSnap.snap
	}
	if x == nil || len(x.region.EndKey) != 0 {
		h.fatalf("store 3 is not applying a snapshot of the unsplit region")
	}

	// The region splits; a newer snapshot Y of the (now smaller) parent
	// reaches store 3's snapshot directory.
	o := h.split(1, 1, "m")
	h.settleWith(anyHold(isolate(3), holdSteps(3, hApply)))
	h.dropFor(3)
	if e := o.err(); e != nil {
		h.fatalf("split: %s", *e)
	}
	for i := 0; i < 6; i++ {
		h.propose(1, putCmd(1, fmt.Sprintf("c%d", i), "v2"))
		h.settleWith(anyHold(isolate(3), holdSteps(3, hApply)))
		h.dropFor(3)
	}
	y, yPath, err := h.store(1).s.snaps.build(1)
	if err != nil {
		t.Fatal(err)
	}
	if y.Metadata.Index <= x.index {
		h.fatalf("snapshot Y at %d is not newer than X at %d", y.Metadata.Index, x.index)
	}
	yData, err := os.ReadFile(yPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s3.s.snaps.receivedFile(1, y.Metadata.Term, y.Metadata.Index), yData, 0o644); err != nil {
		t.Fatal(err)
	}

	// Store 3 crashes in the middle of applying X: after its Applying
	// record and the first chunk of clearing.
	s3.crashAt = s3.writes + 2
	s3.apply(0)
	if s3.up() {
		h.fatalf("store 3 did not crash while applying the snapshot")
	}
	s3.start()
	p := s3.peer(1)
	if p.ps.applied != x.index || len(p.region.EndKey) != 0 {
		h.fatalf("after restart store 3's region 1 is %s at applied %d; want the unsplit region at X's index %d",
			describeRegion(p.region), p.ps.applied, x.index)
	}
	if v, ok := s3.get("x"); !ok || v != "v0" {
		h.fatalf("after restart store 3 lacks X's data: x = %q %t", v, ok)
	}
	h.settle()
	h.ticks(6)
	h.checkAll()
	h.checkSettled()
}

// applyUntil runs store's apply worker one task at a time, settling the
// rest of the cluster in between, until the task at the head of its queue
// satisfies stop (true), or the queue is empty (false).
func (h *harness) applyUntil(store uint64, stop func(*applyTask) bool) bool {
	h.t.Helper()
	hs := h.store(store)
	for i := 0; i < 1000; i++ {
		h.settleWith(holdSteps(store, hApply))
		q := hs.applyQueue()
		if len(q) == 0 {
			return false
		}
		if stop(q[0]) {
			return true
		}
		hs.apply(1)
	}
	h.fatalf("store %d's apply queue never drained", store)
	return false
}

// Race 4: a crash in the middle of destroying a peer (after its tombstone,
// before its raft state and data are gone) must not leave a raft state
// that a peer of the region added back later would load (a commit index
// beyond its empty log), nor data that no region owns.
func TestLifecycleCrashInsideDestroy(t *testing.T) {
	h := newReplicatedCluster(t, nil)
	s3 := h.store(3)
	h.removePeer(1, 1, 3, holdSteps(3, hApply))
	if !h.applyUntil(3, func(t *applyTask) bool { return t.kind == taskDestroy }) {
		h.fatalf("no destroy task for store 3's peer")
	}
	// Writes of destroyRegion: the tombstone batch and its sync, then the
	// raft state: crash there.
	s3.crashAt = s3.writes + 3
	s3.apply(1)
	if s3.up() {
		h.fatalf("store 3 did not crash inside the destroy")
	}
	s3.start()
	if st, ok := s3.regionState(1); !ok || st.State != rspb.PeerState_Tombstone {
		h.fatalf("store 3's region 1 is not a tombstone after restart: %v", st)
	}
	var rs rspb.RaftLocalState
	if ok, err := engine.GetMeta(s3.engines.Raft, engine.RaftStateKey(1), &rs); err != nil || ok {
		h.fatalf("store 3 kept region 1's raft state after restart: %v %v", rs, err)
	}
	h.checkStore(s3) // no data left that no region owns

	// The region is added back on store 3 with a new peer, which catches
	// up by snapshot.
	id, _ := h.sched.AllocID(context.Background())
	o := h.propose(1, changePeerCmd(1, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: id, StoreId: 3}))
	h.settle()
	if e := o.err(); e != nil {
		h.fatalf("add the peer back: %s", *e)
	}
	h.ticks(6)
	if v, ok := s3.get("x"); !ok || v != "v0" {
		h.fatalf("store 3's new peer did not catch up: x = %q %t", v, ok)
	}
	h.checkAll()
	h.checkSettled()
}

// Race 5: a DeleteRange too large for one engine transaction is deleted in
// chunks; a read served in between (its read index is the entry before,
// reported by the flush that precedes the chunks) must see the range
// wholly or not at all.
func TestLifecycleDeleteRangeNotVisibleHalfway(t *testing.T) {
	h := newReplicatedCluster(t, func(c *Config) { c.LeaseEnabled = true })
	s1 := h.store(1)
	const n = 3000 // three chunks of deleteChunkKeys
	for b := 0; b < n; b += 500 {
		bulk := &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: 1}}
		for i := b; i < b+500; i++ {
			bulk.Requests = append(bulk.Requests, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_Put,
				Put: &raft_cmdpb.PutRequest{Key: []byte(fmt.Sprintf("k%05d", i)), Value: []byte("v")}})
		}
		o := h.propose(1, bulk)
		h.settle()
		if e := o.err(); e != nil {
			h.fatalf("bulk put: %s", *e)
		}
	}
	h.ticks(2)

	// Entry i-1 (a put) commits; a read arrives and waits for it to apply;
	// then entry i (the DeleteRange) commits. Store 1's apply worker
	// applies both in one batch.
	hold := holdSteps(1, hApply)
	h.propose(1, putCmd(1, "p", "1"))
	h.settleWith(hold)
	var read *ReadResult
	s1.s.Read(&raft_cmdpb.RaftRequestHeader{RegionId: 1, RegionEpoch: s1.peer(1).region.RegionEpoch},
		func(r ReadResult) { read = &r })
	s1.raftRound(1)
	if read != nil {
		h.fatalf("read served before its index applied: %+v", read)
	}
	h.propose(1, deleteRangeCmd(1, "k", "l"))
	h.settleWith(hold)

	// In the middle of the chunks (the first is written), the raft worker
	// takes the report of entry i-1 and serves the waiting read.
	start := s1.writes
	midway := false
	s1.onWrite = func(w int) {
		if w == start+3 && !midway {
			midway = true
			s1.raftRound(1)
		}
	}
	s1.apply(0)
	s1.onWrite = nil
	if !midway {
		h.fatalf("the DeleteRange did not take several writes")
	}
	h.settle()
	if read == nil || read.Err != nil {
		h.fatalf("read not served after the DeleteRange applied: %+v", read)
	}
	defer read.Snap.Close()
	it, err := read.Snap.NewCFIterator(engine.CFDefault, engine.IterOptions{LowerBound: []byte("k"), UpperBound: []byte("l")})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for it.Rewind(); it.Valid(); it.Next() {
		seen++
	}
	it.Close()
	if seen != 0 && seen != n {
		h.fatalf("a read saw %d of the %d keys a DeleteRange deletes: part of an entry", seen, n)
	}
	if v, err := read.Snap.GetCF(engine.CFDefault, []byte("p")); err != nil || string(v) != "1" {
		h.fatalf("read at the put's index does not see it: %q %v", v, err)
	}
	h.checkAll()
}

// leaseTune turns leases on.
func leaseTune(c *Config) { c.LeaseEnabled = true }

// renewLeaseNow commits a write on store 1 (the leader), which renews its
// lease from the write's proposal time.
func (h *harness) renewLeaseNow() {
	h.t.Helper()
	o := h.propose(1, putCmd(1, "renew", "1"))
	h.settle()
	if e := o.err(); e != nil {
		h.fatalf("renewing write: %s", *e)
	}
	if !h.store(1).peer(1).leaseValid() {
		h.fatalf("lease not valid after a committed write")
	}
}

// Race 7, first part: the lease is checked against the clock when the read
// is handled, not when the round started: a round can run past the lease's
// end.
func TestLifecycleLeaseCheckedWithFreshClock(t *testing.T) {
	h := newReplicatedCluster(t, leaseTune)
	h.renewLeaseNow()
	s1 := h.store(1)
	p := s1.peer(1)
	expire := p.leaseExpire
	// The round starts just before the lease ends and handles the read
	// just after.
	calls := 0
	s1.s.now = func() time.Time {
		calls++
		if calls == 1 {
			return expire.Add(-time.Millisecond)
		}
		return expire.Add(time.Millisecond)
	}
	var read *ReadResult
	s1.s.Read(&raft_cmdpb.RaftRequestHeader{RegionId: 1, RegionEpoch: p.region.RegionEpoch},
		func(r ReadResult) { read = &r })
	s1.raftRound(1)
	if read != nil {
		h.fatalf("read served from a lease that ended during the round: %+v", read)
	}
	s1.s.now = func() time.Time { return h.now }
	h.settle()
	if read == nil || read.Err != nil {
		h.fatalf("read not served through ReadIndex: %+v", read)
	}
	read.Snap.Close()
}

// Race 7, second part: a follower that stepped the leader's message at
// time t refuses votes until at least t + leaseDuration, however late and
// bunched its ticks arrive (a tick's flag pending from before the message,
// another in the ticker's channel, ...). Otherwise a leader whose lease is
// still valid could be deposed and serve stale reads.
func TestLifecycleFollowerRefusesVotesForTheLease(t *testing.T) {
	h := newReplicatedCluster(t, leaseTune)
	s2 := h.store(2)
	p2 := s2.peer(1)
	// Store 2 steps a heartbeat from the leader at time t, then hears
	// nothing more.
	h.tick()
	h.settle()
	t0 := h.now
	// Ticks arrive in bursts: several at the same instant, a few
	// instants, never later than the lease.
	lease := h.cfg.leaseDuration()
	for _, at := range []time.Duration{0, 0, 0, time.Millisecond, lease / 4, lease / 4, lease / 2, lease / 2, lease - time.Millisecond} {
		h.now = t0.Add(at)
		for i := 0; i < 3; i++ {
			s2.s.work.signal(1, flagTick)
			s2.raftRound(1)
			s2.raftWrite()
		}
	}
	h.dropFor(2)
	// A candidate asks for store 2's vote within the lease.
	st := p2.rn.BasicStatus()
	vote := &rspb.RaftMessage{RegionId: 1, FromPeer: storePeer(p2.region, 3), ToPeer: p2.meta, RegionEpoch: p2.region.RegionEpoch,
		Message: &eraftpb.Message{MsgType: eraftpb.MessageType_MsgRequestVote, From: storePeer(p2.region, 3).Id, To: p2.meta.Id,
			Term: st.HardState.Term + 1, Index: st.LastIndex + 10, LogTerm: st.HardState.Term + 1}}
	_ = s2.s.HandleRaftMessage(vote)
	s2.raftRound(1)
	s2.raftWrite()
	for _, m := range h.net {
		if m.from == 2 && m.msg.GetMessage().GetMsgType() == eraftpb.MessageType_MsgRequestVoteResponse && !m.msg.Message.Reject {
			h.fatalf("store 2 granted a vote %v after hearing from the leader (lease %v)", h.now.Sub(t0), lease)
		}
	}
}

// Race 8: after an aborted transfer, the MsgTimeoutNow it sent may still
// arrive and elect the transferee (its election ignores the followers'
// lease). So once it was sent, the leader must not renew its lease for the
// rest of the term.
func TestLifecycleNoLeaseAfterAbortedTransfer(t *testing.T) {
	h := newReplicatedCluster(t, leaseTune)
	h.renewLeaseNow()
	s1 := h.store(1)
	p1 := s1.peer(1)
	p2 := h.store(2).peer(1)
	h.propose(1, transferCmd(1, p2.meta))
	// MsgTimeoutNow is delayed: store 2 receives nothing for a while.
	h.settleWith(holdSteps(2, hRecv))
	var timeoutNow []hMsg
	for i := 0; i < len(h.net); {
		if m := h.net[i]; m.to == 2 && m.msg.GetMessage().GetMsgType() == eraftpb.MessageType_MsgTimeoutNow {
			timeoutNow = append(timeoutNow, m)
			h.net = slices.Delete(h.net, i, i+1)
			continue
		}
		i++
	}
	if len(timeoutNow) == 0 {
		h.fatalf("no MsgTimeoutNow sent")
	}
	h.settle()
	// The transfer is aborted after an election timeout; writes commit
	// again and would renew the lease.
	h.ticks(2 * h.cfg.ElectionTicks)
	if !p1.isLeader() || p1.rn.BasicStatus().LeadTransferee != 0 {
		h.fatalf("transfer not aborted on store 1")
	}
	o := h.propose(1, putCmd(1, "after", "1"))
	h.settle()
	if e := o.err(); e != nil {
		h.fatalf("write after the abort: %s", *e)
	}
	if p1.leaseValid() {
		h.fatalf("store 1 holds a lease in the term its MsgTimeoutNow was sent")
	}
	// The late MsgTimeoutNow elects store 2.
	for _, m := range timeoutNow {
		h.net = append(h.net, m)
	}
	h.settle()
	if !p2.isLeader() {
		h.fatalf("the late MsgTimeoutNow did not elect store 2")
	}
}

// Found by the explorer: the apply worker applies the removal of this
// store's peer (the region state on disk no longer lists the store) and
// the store goes down before the raft worker destroys the peer. On
// restart the region must be destroyed, not left Normal on disk with no
// peer, which would keep the region from ever being added back here.
func TestLifecycleCrashAfterOwnRemovalApplied(t *testing.T) {
	h := newReplicatedCluster(t, nil)
	s3 := h.store(3)
	h.removePeer(1, 1, 3, holdSteps(3, hApply))
	s3.apply(0) // applies the removal; its report waits in the mailbox
	if st, _ := s3.regionState(1); storePeer(st.Region, 3) != nil {
		h.fatalf("store 3 did not apply its removal")
	}
	s3.crash()
	s3.start() // fails the test if region 1 is Normal on disk without a peer
	if st, ok := s3.regionState(1); !ok || st.State != rspb.PeerState_Tombstone {
		h.fatalf("store 3's region 1 is not a tombstone after restart: %v", st)
	}
	h.checkStore(s3)
	id, _ := h.sched.AllocID(context.Background())
	o := h.propose(1, changePeerCmd(1, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: id, StoreId: 3}))
	h.settle()
	if e := o.err(); e != nil {
		h.fatalf("add the peer back: %s", *e)
	}
	h.ticks(6)
	if v, ok := s3.get("x"); !ok || v != "v0" {
		h.fatalf("store 3's new peer did not catch up: x = %q %t", v, ok)
	}
	h.checkAll()
	h.checkSettled()
}

// The store-side safety net: the leader refuses a membership change after
// which the peers it heard from recently, holding the log, would not form
// a quorum (removing a healthy peer while another is down). Adding a voter
// and removing the down peer are allowed. Without it the
// explorer drove a region into a membership of a lagging peer and one that
// never received its snapshot: no quorum ever again.
func TestLifecycleUnsafeConfChangeRefused(t *testing.T) {
	h := newHarness(t, 4, 3, nil)
	h.checkData = true
	h.elect(1, 1)
	h.ticks(2)
	h.store(3).crash()
	// Let an election timeout pass with store 3 silent.
	h.ticks(2 * h.cfg.ElectionTicks)
	r := h.store(1).peer(1).region
	for _, c := range []struct {
		name string
		req  *raft_cmdpb.RaftCmdRequest
	}{
		{"remove a healthy peer", changePeerCmd(1, eraftpb.ConfChangeType_RemoveNode, storePeer(r, 2))},
	} {
		o := h.propose(1, c.req)
		h.settle()
		e := o.err()
		if e == nil || !strings.Contains(*e, "unsafe") {
			h.fatalf("%s while store 3 is down: %v, want refused as unsafe", c.name, e)
		}
	}
	if got := h.store(1).peer(1).region.RegionEpoch.ConfVer; got != r.RegionEpoch.ConfVer {
		h.fatalf("membership changed: conf_ver %d -> %d", r.RegionEpoch.ConfVer, got)
	}
	// A voter may still be added (it catches up), and the down peer may go.
	o := h.propose(1, changePeerCmd(1, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: 5000, StoreId: 4}))
	h.settle()
	if e := o.err(); e != nil {
		h.fatalf("adding a voter with one of three peers down: %s", *e)
	}
	h.ticks(4)
	h.removePeer(1, 1, 3, nil)
}

// Learners: a peer joins as a learner (it receives the log, catches up by
// snapshot, but does not vote), cannot be made leader, counts in no quorum,
// and is then promoted to a voter; every replica agrees on the roles.
func TestLifecycleLearnerJoinsAndIsPromoted(t *testing.T) {
	h := newHarness(t, 4, 3, lagTune)
	h.checkData = true
	h.elect(1, 1)
	o := h.propose(1, putCmd(1, "x", "v0"))
	h.settle()
	h.ticks(2)
	if e := o.err(); e != nil {
		h.fatalf("put: %s", *e)
	}
	// Both steps arrive as the scheduler sends them: operator steps.
	h.operatorStep(1, 1, eraftpb.ConfChangeType_AddLearnerNode, &metapb.Peer{Id: 5000, StoreId: 4})
	h.settle()
	h.ticks(4)
	if v, ok := h.store(4).get("x"); !ok || v != "v0" {
		h.fatalf("the learner did not catch up: x = %q %t", v, ok)
	}
	for _, id := range h.ids {
		pr := storePeer(h.store(id).peer(1).region, 4)
		if pr == nil || pr.Role != metapb.PeerRole_Learner {
			h.fatalf("store %d sees store 4's peer as %v, want a learner", id, pr)
		}
	}
	if v, l := raftMembers(h.store(1).peer(1)); v != 3 || l != 1 {
		h.fatalf("raft knows %d voters and %d learners, want 3 and 1", v, l)
	}
	// A learner cannot lead.
	tr := h.propose(1, transferCmd(1, storePeer(h.store(1).peer(1).region, 4)))
	h.settle()
	if e := tr.err(); e == nil || !strings.Contains(*e, "learner") {
		h.fatalf("transfer to a learner: %v, want refused", tr.err())
	}
	// With one voter down, removing a healthy voter stays unsafe: the
	// learner counts for nothing.
	h.store(3).crash()
	h.ticks(2 * h.cfg.ElectionTicks)
	rm := h.propose(1, changePeerCmd(1, eraftpb.ConfChangeType_RemoveNode, storePeer(h.store(1).peer(1).region, 2)))
	h.settle()
	if e := rm.err(); e == nil || !strings.Contains(*e, "unsafe") {
		h.fatalf("removing a healthy voter with a learner and a down voter: %v, want unsafe", rm.err())
	}
	h.store(3).start()
	h.ticks(4)
	// Promotion.
	h.operatorStep(1, 1, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: 5000, StoreId: 4, Role: metapb.PeerRole_Learner})
	h.settle()
	h.ticks(2)
	for _, id := range h.ids {
		pr := storePeer(h.store(id).peer(1).region, 4)
		if pr == nil || pr.Role != metapb.PeerRole_Voter {
			h.fatalf("store %d sees store 4's peer as %v after promotion, want a voter", id, pr)
		}
	}
	if v, l := raftMembers(h.store(1).peer(1)); v != 4 || l != 0 {
		h.fatalf("raft knows %d voters and %d learners after promotion, want 4 and 0", v, l)
	}
	h.checkAll()
	h.checkSettled()
}

// raftMembers counts the voters and learners a leader's raft tracks.
func raftMembers(p *peer) (voters, learners int) {
	for _, pr := range p.rn.Status().Progress {
		if pr.IsLearner {
			learners++
		} else {
			voters++
		}
	}
	return voters, learners
}
