package raft

import (
	"errors"
	"slices"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// addNode starts a node with empty storage that will join the cluster.
func (c *rawCluster) addNode(id uint64) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(newTestConfig(id, 10, 1, s))
	if err != nil {
		c.tb.Fatal(err)
	}
	c.nodes[id] = rn
	c.storage[id] = s
	c.ids = append(c.ids, id)
}

func (c *rawCluster) proposeConfChange(id uint64, typ eraftpb.ConfChangeType, node uint64) error {
	return c.nodes[id].ProposeConfChange(eraftpb.ConfChange{ChangeType: typ, NodeId: node})
}

// The snapshot a joining node needs must contain it. MemoryStorage keeps
// the snapshot it was given, so this helper snapshots the leader at its
// applied index, as an application would do on demand.
func (c *rawCluster) snapshotAndCompact(id uint64) {
	rn := c.nodes[id]
	applied := rn.Status().Applied
	cs := rn.raft.trk.ConfState()
	if _, err := c.storage[id].CreateSnapshot(applied, &cs, nil); err != nil {
		c.tb.Fatal(err)
	}
	if err := c.storage[id].Compact(applied); err != nil {
		c.tb.Fatal(err)
	}
}

// join adds node id with change typ. Node id knows no configuration: the
// initial one of this test cluster is not in the log (it sits in storage at
// index 0), so it must start from a snapshot: it is kept cut off until the
// leader (node 1) has compacted past the change.
func (c *rawCluster) join(id uint64, typ eraftpb.ConfChangeType) {
	c.tb.Helper()
	c.addNode(id)
	c.isolated[id] = true
	if err := c.proposeConfChange(1, typ, id); err != nil {
		c.tb.Fatal(err)
	}
	c.stabilize()
	c.snapshotAndCompact(1)
	c.isolated[id] = false
	_ = c.nodes[1].Propose([]byte("after"))
	c.nodes[1].Tick() // heartbeat: the new node answers and is probed
	c.stabilize()
}

func TestConfChangeAddNode(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	_ = c.nodes[1].Propose([]byte("before"))
	c.stabilize()
	c.join(4, eraftpb.ConfChangeType_AddNode)
	for _, id := range c.ids {
		if got := c.nodes[id].raft.trk.Voters(); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
			t.Fatalf("node %d voters = %v", id, got)
		}
	}
	if st := c.nodes[4].Status(); st.HardState.Commit != c.nodes[1].Status().HardState.Commit {
		t.Fatalf("node 4: %s", st)
	}
	// The cluster needs 3 of 4 now: with two nodes cut, nothing commits.
	c.isolated[3], c.isolated[4] = true, true
	commit := c.nodes[1].Status().HardState.Commit
	_ = c.nodes[1].Propose([]byte("needs 3 of 4"))
	c.stabilize()
	if got := c.nodes[1].Status().HardState.Commit; got != commit {
		t.Fatalf("committed with 2 of 4: %d", got)
	}
}

// At most one conf change is pending: a second proposal is rejected until
// the first is applied.
func TestConfChangeOnlyOnePending(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddNode, 4); err != nil {
		t.Fatal(err)
	}
	err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddNode, 5)
	if !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("second conf change: err = %v, want ErrProposalDropped", err)
	}
	// Normal proposals are not affected.
	if err := c.nodes[1].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddNode, 5); err != nil {
		t.Fatalf("after the first applied: %v", err)
	}
}

// A new leader does not know whether its uncommitted tail holds a conf
// change, so it refuses conf changes until its log up to election is
// applied.
func TestConfChangeNewLeaderPendingIndex(t *testing.T) {
	r := nodeWithLog(t, 1, []uint64{1, 2}, 1, 1)
	r.becomeCandidate()
	r.becomeLeader()
	if r.pendingConfIndex != 2 {
		t.Fatalf("pendingConfIndex = %d, want 2", r.pendingConfIndex)
	}
}

func TestConfChangeInvalid(t *testing.T) {
	c := newRawCluster(t, 1)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddLearnerNode, 1); !errors.Is(err, ErrInvalidConfChange) {
		t.Fatalf("demoting a voter to learner: err = %v", err)
	}
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_RemoveNode, 1); !errors.Is(err, ErrInvalidConfChange) {
		t.Fatalf("remove last voter: err = %v", err)
	}
	// A rejected change does not block the next one.
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddNode, 2); err != nil {
		t.Fatal(err)
	}
}

// Removing a follower shrinks the quorum: an entry stuck for lack of acks
// commits once the dead node is removed.
func TestConfChangeRemoveNodeCommitsPending(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2))
	r.becomeCandidate()
	r.becomeLeader()
	r.readMessages()
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if r.raftLog.committed != 0 {
		t.Fatalf("committed %d with 1 of 2", r.raftLog.committed)
	}
	r.applyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 2})
	if r.raftLog.committed != 2 {
		t.Fatalf("committed = %d after removing 2, want 2", r.raftLog.committed)
	}
}

// The leader removing itself hands leadership to a caught-up voter and steps
// down; it never campaigns again.
func TestConfChangeLeaderRemovesItself(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_RemoveNode, 1); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if st := c.nodes[1].raft.state; st != StateFollower {
		t.Fatalf("removed leader is %s", st)
	}
	lead := c.leader()
	if lead != 2 && lead != 3 {
		t.Fatalf("leader = %d after removal", lead)
	}
	for _, id := range []uint64{2, 3} {
		if got := c.nodes[id].raft.trk.Voters(); !slices.Equal(got, []uint64{2, 3}) {
			t.Fatalf("node %d voters %v", id, got)
		}
	}
	// The cluster works without it.
	if err := c.nodes[lead].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if got := c.applied[lead]; len(got) != 1 {
		t.Fatalf("applied %v", got)
	}
	// The removed node never campaigns.
	for i := 0; i < 100; i++ {
		c.nodes[1].Tick()
	}
	if rd := c.nodes[1].Ready(); len(rd.Messages) != 0 {
		t.Fatalf("removed node sent %v", msgTypes(rd.Messages))
	}
	// Proposals on it are dropped by the leader it forwards to... or by it.
	if err := c.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	if c.nodes[1].raft.state != StateFollower {
		t.Fatal("removed node campaigned")
	}
}

// A node does not campaign while a committed conf change is unapplied: it
// might campaign under the wrong configuration.
func TestNoCampaignWithUnappliedConfChange(t *testing.T) {
	s := newTestStorage(1, 2, 3)
	cc, _ := (&eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddNode, NodeId: 4}).Marshal()
	_ = s.Append([]eraftpb.Entry{{Index: 1, Term: 1, EntryType: eraftpb.EntryType_EntryConfChange, Data: cc}})
	_ = s.SetHardState(eraftpb.HardState{Term: 1, Commit: 1})
	r := newTestRaft(t, 1, 10, 1, s)
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgHup})
	mustState(t, r, StateFollower, 1)
	r.raftLog.appliedTo(1)
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgHup})
	mustState(t, r, StateCandidate, 2)
}
