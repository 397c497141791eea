package raft

import (
	"fmt"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

func testSnap(index, term uint64, voters ...uint64) eraftpb.Snapshot {
	return eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{
		Index: index, Term: term, ConfState: &eraftpb.ConfState{Voters: voters},
	}}
}

// newLeaderWithCompactedLog returns leader 1 of {1,2,3} whose storage was
// compacted at index 11 (snapshot 11/1) with entries after it.
func newLeaderWithCompactedLog(t *testing.T) (*raft, *MemoryStorage) {
	s := NewMemoryStorage()
	_ = s.ApplySnapshot(testSnap(11, 1, 1, 2, 3))
	_ = s.Append([]eraftpb.Entry{{Index: 12, Term: 1}})
	_ = s.SetHardState(eraftpb.HardState{Term: 1, Commit: 12})
	r := newTestRaft(t, 1, 10, 1, s)
	r.becomeCandidate()
	r.becomeLeader()
	persistAll(r, s)
	r.readMessages()
	return r, s
}

// §7: a follower that needs compacted entries gets the snapshot, and the
// leader stops sending it anything else until the snapshot is done.
func TestSendSnapshotWhenFollowerNeedsCompactedEntries(t *testing.T) {
	r, _ := newLeaderWithCompactedLog(t)
	pr := r.trk.Progress[2]
	pr.RecentActive = true
	// The follower's probe is rejected down to index 5, which is compacted.
	pr.Next = 6
	_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgAppResp, Index: 5, Reject: true, RejectHint: 5})
	msgs := r.readMessages()
	if len(msgs) != 1 || msgs[0].MsgType != msgSnap || msgs[0].Snapshot.Metadata.Index != 11 {
		t.Fatalf("msgs = %v, want a MsgSnap at 11", msgTypes(msgs))
	}
	if pr.State != tracker.StateSnapshot || pr.PendingSnapshot != 11 {
		t.Fatalf("progress %s", pr)
	}
	// Proposals do not reach a follower in StateSnapshot.
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	for _, m := range r.readMessages() {
		if m.To == 2 {
			t.Fatalf("sent %s to a follower in StateSnapshot", DescribeMessage(m, nil))
		}
	}
	// The follower installed it and acks 11: back to replicating.
	_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgAppResp, Index: 11})
	if pr.State != tracker.StateReplicate || pr.Match != 11 {
		t.Fatalf("after ack: %s", pr)
	}
	if msgs := r.readMessages(); len(msgs) == 0 || msgs[0].MsgType != msgApp || msgs[0].Index != 11 {
		t.Fatalf("after ack: msgs %v", msgTypes(msgs))
	}
}

// An inactive follower does not get a snapshot (it would go nowhere).
func TestNoSnapshotToInactiveFollower(t *testing.T) {
	r, _ := newLeaderWithCompactedLog(t)
	pr := r.trk.Progress[2]
	pr.RecentActive = false
	pr.Next = 6
	r.sendAppend(2)
	if msgs := r.readMessages(); len(msgs) != 0 {
		t.Fatalf("msgs = %v", msgTypes(msgs))
	}
}

func TestSnapshotStatusReports(t *testing.T) {
	for _, failed := range []bool{false, true} {
		t.Run(fmt.Sprintf("failed=%t", failed), func(t *testing.T) {
			r, _ := newLeaderWithCompactedLog(t)
			pr := r.trk.Progress[2]
			pr.BecomeSnapshot(11)
			_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgSnapStatus, Reject: failed})
			if pr.State != tracker.StateProbe || !pr.ProbeSent {
				t.Fatalf("progress %s, want paused probe", pr)
			}
			want := uint64(12)
			if failed {
				want = 1
			}
			if pr.Next != want {
				t.Fatalf("next = %d, want %d", pr.Next, want)
			}
			// A heartbeat response unpauses: after success the leader
			// probes after the snapshot, after failure it retries the
			// snapshot.
			_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgHeartbeatRsp})
			wantType := msgApp
			if failed {
				wantType = msgSnap
			}
			if msgs := r.readMessages(); len(msgs) != 1 || msgs[0].MsgType != wantType {
				t.Fatalf("msgs = %v", msgTypes(msgs))
			}
		})
	}
}

// §7: a follower installs a newer snapshot: the log, commit index and
// configuration come from it.
func TestRestoreSnapshot(t *testing.T) {
	s := newTestStorage(1, 2)
	r := newTestRaft(t, 1, 10, 1, s)
	snap := testSnap(11, 11, 1, 2, 3)
	if !r.restore(snap) {
		t.Fatal("restore failed")
	}
	if r.raftLog.lastIndex() != 11 || r.raftLog.committed != 11 || r.raftLog.lastTerm() != 11 {
		t.Fatalf("log after restore: last %d commit %d", r.raftLog.lastIndex(), r.raftLog.committed)
	}
	if got := r.trk.Voters(); len(got) != 3 {
		t.Fatalf("voters = %v, want [1 2 3]", got)
	}
	if r.restore(snap) {
		t.Fatal("restoring the same snapshot twice")
	}
	// While the snapshot awaits persistence the node must not campaign.
	if r.promotable() {
		t.Fatal("promotable with a pending snapshot")
	}
}

// A snapshot whose last entry we already have only advances the commit.
func TestRestoreSnapshotMatchingLogFastForwards(t *testing.T) {
	r := nodeWithLog(t, 1, []uint64{1, 2}, 1, 1, 1)
	if r.restore(testSnap(2, 1, 1, 2)) {
		t.Fatal("restore replaced a matching log")
	}
	if r.raftLog.committed != 2 || r.raftLog.lastIndex() != 3 {
		t.Fatalf("commit %d last %d", r.raftLog.committed, r.raftLog.lastIndex())
	}
}

// A snapshot whose configuration does not contain us is refused.
func TestRestoreSnapshotWithoutSelf(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2))
	if r.restore(testSnap(11, 11, 2, 3)) {
		t.Fatal("installed a snapshot without us in it")
	}
}

// End to end through RawNode: a node partitioned while the leader compacts
// its log catches up through a snapshot, then through normal replication.
func TestRawNodeSnapshotCatchUp(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	c.isolated[3] = true
	for i := 0; i < 20; i++ {
		_ = c.nodes[1].Propose([]byte(fmt.Sprintf("v%d", i)))
		c.stabilize()
	}
	applied := c.nodes[1].Status().Applied
	cs := c.nodes[1].raft.trk.ConfState()
	if _, err := c.storage[1].CreateSnapshot(applied, &cs, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := c.storage[1].Compact(applied); err != nil {
		t.Fatal(err)
	}
	c.isolated[3] = false
	snaps := 0
	for i := 0; i < 3; i++ {
		c.nodes[1].Tick() // heartbeat: 3 answers, leader probes, needs a snapshot
		c.stabilizeCounting(&snaps)
	}
	if snaps != 1 {
		t.Fatalf("snapshots sent = %d, want 1", snaps)
	}
	c.nodes[1].ReportSnapshot(3, SnapshotFinish)
	_ = c.nodes[1].Propose([]byte("after"))
	c.stabilize()
	if st := c.nodes[3].Status(); st.HardState.Commit != c.nodes[1].Status().HardState.Commit || st.Applied != st.HardState.Commit {
		t.Fatalf("node 3 status %s", st)
	}
	if pr := c.nodes[1].Status().Progress[3]; pr.State != tracker.StateReplicate {
		t.Fatalf("progress of 3: %s", pr)
	}
	if got := c.applied[3]; len(got) != 1 || got[0] != "after" {
		t.Fatalf("node 3 applied %v after the snapshot", got)
	}
}

func (c *rawCluster) stabilizeCounting(snaps *int) {
	for {
		progress := false
		for _, id := range c.ids {
			if c.nodes[id].HasReady() {
				c.handleReady(id)
				progress = true
			}
		}
		msgs := c.inbox
		c.inbox = nil
		for _, m := range msgs {
			progress = true
			if m.MsgType == msgSnap {
				*snaps++
			}
			c.deliver(m)
		}
		if !progress {
			return
		}
	}
}

// Flow control: in StateReplicate at most MaxInflightMsgs MsgApps are
// outstanding; acks free the window.
func TestFlowControlInflightWindow(t *testing.T) {
	r := newTestRaft(t, 1, 5, 1, newTestStorage(1, 2), func(c *Config) { c.MaxInflightMsgs = 3; c.MaxSizePerMsg = 0 })
	r.becomeCandidate()
	r.becomeLeader()
	pr := r.trk.Progress[2]
	pr.BecomeReplicate()
	r.readMessages()
	for i := 0; i < 10; i++ {
		_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	}
	msgs := r.readMessages()
	if len(msgs) != 3 || !pr.Inflights.Full() {
		t.Fatalf("sent %d MsgApps with a window of 3 (full=%t)", len(msgs), pr.Inflights.Full())
	}
	// Acking the first frees one slot: exactly one more is sent.
	_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgAppResp, Index: msgs[0].Index + 1})
	if got := r.readMessages(); len(got) != 1 {
		t.Fatalf("after one ack sent %d, want 1", len(got))
	}
	// A heartbeat response with a full window frees the oldest slot.
	_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgHeartbeatRsp})
	if pr.Inflights.Count() != 3 {
		t.Fatalf("inflight = %d after heartbeat response, want 3 (one freed, one sent)", pr.Inflights.Count())
	}
}

// Flow control: a probing follower gets one MsgApp until it answers.
func TestFlowControlProbeSendsOne(t *testing.T) {
	r := newTestRaft(t, 1, 5, 1, newTestStorage(1, 2))
	r.becomeCandidate()
	r.becomeLeader()
	r.readMessages()
	r.bcastAppend()
	r.bcastAppend()
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if msgs := r.readMessages(); len(msgs) != 1 {
		t.Fatalf("probe sent %d MsgApps, want 1: %v", len(msgs), msgTypes(msgs))
	}
	// Heartbeats still go out.
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgBeat})
	if msgs := r.readMessages(); len(msgs) != 1 || msgs[0].MsgType != msgHeartbeat {
		t.Fatalf("msgs = %v", msgTypes(msgs))
	}
}

// Flow control: MaxSizePerMsg bounds the entries in one MsgApp.
func TestFlowControlMaxSizePerMsg(t *testing.T) {
	size := uint64((&eraftpb.Entry{Term: 1, Index: 2, Data: []byte("xxxxxxxxxx")}).Size())
	r := newTestRaft(t, 1, 5, 1, newTestStorage(1, 2), func(c *Config) { c.MaxSizePerMsg = 3 * size })
	r.becomeCandidate()
	r.becomeLeader()
	for i := 0; i < 10; i++ {
		_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("xxxxxxxxxx")}}})
	}
	r.readMessages()
	r.trk.Progress[2].BecomeReplicate()
	r.trk.Progress[2].Next = 2
	r.sendAppend(2)
	msgs := r.readMessages()
	if len(msgs) != 1 || len(msgs[0].Entries) != 3 {
		t.Fatalf("MsgApp carried %d entries, want 3", len(msgs[0].Entries))
	}
}

// ReportUnreachable moves a replicating follower back to probing.
func TestReportUnreachable(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	if pr := c.nodes[1].Status().Progress[2]; pr.State != tracker.StateReplicate {
		t.Fatalf("progress %s", pr)
	}
	c.nodes[1].ReportUnreachable(2)
	if pr := c.nodes[1].Status().Progress[2]; pr.State != tracker.StateProbe {
		t.Fatalf("progress after ReportUnreachable %s", pr)
	}
}
