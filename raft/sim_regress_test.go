package raft_test

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// Minimal reproductions of bugs the simulation found, each named after the
// seed that found it.

// bootstrapNode returns node id of the cluster {1, 2, 3} at term 0, seeded
// with the bootstrap snapshot at index 1.
func bootstrapNode(t *testing.T, id uint64) (*raft.RawNode, *raft.MemoryStorage) {
	t.Helper()
	ms := raft.NewMemoryStorage()
	voters := []uint64{1, 2, 3}
	if err := ms.ApplySnapshot(eraftpb.Snapshot{
		Data:     smSnapshotData(1, bootstrapHash(voters)),
		Metadata: &eraftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: &eraftpb.ConfState{Voters: voters}},
	}); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: ms, MaxInflightMsgs: 256})
	if err != nil {
		t.Fatal(err)
	}
	return rn, ms
}

// persistReady handles one Ready as doc.go says, dropping its messages.
func persistReady(t *testing.T, rn *raft.RawNode, ms *raft.MemoryStorage) raft.Ready {
	t.Helper()
	rd := rn.Ready()
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := ms.ApplySnapshot(rd.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := ms.SetHardState(rd.HardState); err != nil {
			t.Fatal(err)
		}
	}
	rn.Advance(rd)
	return rd
}

// TestSimSnapshotReadyMustSync: TestSimulationConfChange seed=5 (10000
// steps). A follower installed a snapshot from the leader in a Ready with
// MustSync=false, so the simulated disk did not sync it, yet the same Ready
// acknowledged it (MsgAppResp at the snapshot index). The follower crashed,
// lost the snapshot, and on restart panicked when the leader's heartbeat
// carried a commit index (min(Match, commit)) beyond its log. A Ready with a
// snapshot changes more than the commit index, so it must be synced before
// its messages go out.
func TestSimSnapshotReadyMustSync(t *testing.T) {
	rn, ms := bootstrapNode(t, 2)
	// Follow leader 1 in term 1, and persist that.
	if err := rn.Step(eraftpb.Message{MsgType: eraftpb.MessageType_MsgHeartbeat, From: 1, To: 2, Term: 1, Commit: 1}); err != nil {
		t.Fatal(err)
	}
	persistReady(t, rn, ms)

	snap := eraftpb.Snapshot{
		Data:     smSnapshotData(10, 0),
		Metadata: &eraftpb.SnapshotMetadata{Index: 10, Term: 1, ConfState: &eraftpb.ConfState{Voters: []uint64{1, 2, 3}}},
	}
	if err := rn.Step(eraftpb.Message{MsgType: eraftpb.MessageType_MsgSnapshot, From: 1, To: 2, Term: 1, Snapshot: &snap}); err != nil {
		t.Fatal(err)
	}
	rd := persistReady(t, rn, ms)
	if raft.IsEmptySnap(rd.Snapshot) {
		t.Fatalf("snapshot not handed out in Ready:\n%s", raft.DescribeReady(rd, nil))
	}
	acked := false
	for _, m := range rd.Messages {
		if m.MsgType == eraftpb.MessageType_MsgAppendResponse && !m.Reject && m.Index == 10 {
			acked = true
		}
	}
	if acked && !rd.MustSync {
		t.Fatalf("a Ready that installs a snapshot and acknowledges it has MustSync=false; a crash after sending loses the acknowledged snapshot:\n%s",
			raft.DescribeReady(rd, nil))
	}
}
