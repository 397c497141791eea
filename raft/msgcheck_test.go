package raft

import (
	"errors"
	"math"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// newSettledCluster returns a three-node group led by 1 in term 1 with
// entries 1..3 committed everywhere and nothing left to do.
func newSettledCluster(t *testing.T) *rawCluster {
	t.Helper()
	c := newRawCluster(t, 3)
	if err := c.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	for _, d := range []string{"a", "b"} {
		if err := c.nodes[1].Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	c.stabilize()
	for _, id := range c.ids {
		if r := c.nodes[id].raft; r.raftLog.committed != 3 || r.Term != 1 || r.lead != 1 {
			t.Fatalf("node %d not settled: %s", id, r.raftLog)
		}
	}
	return c
}

// nodeState is what a dropped message must leave alone.
type nodeState struct {
	hs        eraftpb.HardState
	ss        SoftState
	lastIndex uint64
	hasReady  bool
}

func stateOf(rn *RawNode) nodeState {
	return nodeState{rn.raft.hardState(), rn.raft.softState(), rn.raft.raftLog.lastIndex(), rn.HasReady()}
}

func ents(ts ...uint64) []*eraftpb.Entry {
	// ents(i, t, i, t, ...) builds entries with the given indexes and terms.
	var es []*eraftpb.Entry
	for i := 0; i+1 < len(ts); i += 2 {
		es = append(es, &eraftpb.Entry{Index: ts[i], Term: ts[i+1], Data: []byte("x")})
	}
	return es
}

func snapMsg(index, term uint64, voters ...uint64) *eraftpb.Snapshot {
	return &eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{
		Index: index, Term: term, ConfState: &eraftpb.ConfState{Voters: voters},
	}}
}

// TestStepDropsMalformedMsg: messages that no honest peer sends, each of
// which used to panic a node, move its term backwards or bypass the term
// rules, are dropped by RawNode.Step without a trace.
func TestStepDropsMalformedMsg(t *testing.T) {
	const follower, leader = 2, 1
	tests := []struct {
		name string
		to   uint64 // the receiving node
		m    eraftpb.Message
	}{
		{"heartbeat without term", follower, eraftpb.Message{MsgType: msgHeartbeat, From: 1, Commit: 3}},
		{"append without term", follower, eraftpb.Message{MsgType: msgApp, From: 1, Index: 3, LogTerm: 1, Entries: ents(4, 1)}},
		{"vote without term", follower, eraftpb.Message{MsgType: msgVote, From: 3, Index: 9, LogTerm: 9}},
		{"vote response without term", leader, eraftpb.Message{MsgType: msgVoteResp, From: 2}},
		{"forwarded proposal with our term", follower, eraftpb.Message{MsgType: msgProp, From: 3, Term: 1, Entries: ents(0, 0)}},
		{"forwarded proposal with a higher term", leader, eraftpb.Message{MsgType: msgProp, From: 3, Term: 5, Entries: ents(0, 0)}},
		{"forwarded read with a term", follower, eraftpb.Message{MsgType: msgReadIndex, From: 3, Term: 1, Entries: ents(0, 0)}},
		{"addressed to another node", follower, eraftpb.Message{MsgType: msgHeartbeat, From: 1, To: 3, Term: 1, Commit: 3}},
		{"addressed to nobody", follower, eraftpb.Message{MsgType: msgTimeoutNow, From: 1, To: None, Term: 1}},
		{"no sender", leader, eraftpb.Message{MsgType: msgReadIndex, Entries: ents(0, 0)}},
		{"unknown type", follower, eraftpb.Message{MsgType: 19, From: 1, Term: 7}},
		{"far unknown type", follower, eraftpb.Message{MsgType: 1 << 20, From: 1, Term: 7}},
		{"append with a gap", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 1, Index: 3, LogTerm: 1, Entries: ents(5, 1)}},
		{"append rewriting committed entries", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 2, Index: 3, LogTerm: 1, Entries: ents(2, 2, 3, 2)}},
		{"append with terms going back", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 2, Index: 3, LogTerm: 1, Entries: ents(4, 2, 5, 1)}},
		{"append from a future term", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 1, Index: 3, LogTerm: 1, Entries: ents(4, 3)}},
		{"append with a log term above its term", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 1, Index: 3, LogTerm: 2}},
		{"append with a nil entry", follower, eraftpb.Message{MsgType: msgApp, From: 1, Term: 1, Index: 3, LogTerm: 1, Entries: []*eraftpb.Entry{nil}}},
		{"snapshot without term", follower, eraftpb.Message{MsgType: msgSnap, From: 1, Term: 1, Snapshot: snapMsg(10, 0, 1, 2, 3)}},
		{"snapshot from a future term", follower, eraftpb.Message{MsgType: msgSnap, From: 1, Term: 1, Snapshot: snapMsg(10, 5, 1, 2, 3)}},
		{"snapshot at the last index", follower, eraftpb.Message{MsgType: msgSnap, From: 1, Term: 1, Snapshot: snapMsg(math.MaxUint64, 1, 1, 2, 3)}},
		{"snapshot with voter 0", follower, eraftpb.Message{MsgType: msgSnap, From: 1, Term: 1, Snapshot: snapMsg(10, 1, 0, 1, 2, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newSettledCluster(t)
			rn := c.nodes[tt.to]
			if tt.m.To == 0 && tt.name != "addressed to nobody" {
				tt.m.To = tt.to
			}
			before := stateOf(rn)
			if err := rn.Step(tt.m); !errors.Is(err, ErrStepMalformedMsg) {
				t.Fatalf("Step(%s) = %v, want ErrStepMalformedMsg", DescribeMessage(tt.m, nil), err)
			}
			if after := stateOf(rn); after != before {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
		})
	}
}

// TestStepHeartbeatCommitBeyondLog: an honest leader sends min(Match,
// committed), so a heartbeat commit beyond our log is corrupt (or we lost
// acknowledged entries). The node must not panic in commitTo nor commit
// more than it had, but still takes the heartbeat as the leader's.
func TestStepHeartbeatCommitBeyondLog(t *testing.T) {
	c := newSettledCluster(t)
	rn := c.nodes[2]
	for _, term := range []uint64{1, 2} {
		if err := rn.Step(eraftpb.Message{MsgType: msgHeartbeat, From: 1, To: 2, Term: term, Commit: 100}); err != nil {
			t.Fatal(err)
		}
		if r := rn.raft; r.raftLog.committed != 3 || r.Term != term || r.lead != 1 {
			t.Fatalf("term %d: commit=%d term=%d lead=%d, want commit 3, leader 1", term, r.raftLog.committed, r.Term, r.lead)
		}
		rd := rn.Ready()
		if len(rd.Messages) != 1 || rd.Messages[0].MsgType != msgHeartbeatRsp {
			t.Fatalf("term %d: want one heartbeat response, got %s", term, DescribeReady(rd, nil))
		}
		rn.Advance(rd)
	}
}

// TestStepAppRespBeyondLog: an ack for entries the leader never had must
// not move the follower's Match (which would commit or send them).
func TestStepAppRespBeyondLog(t *testing.T) {
	c := newSettledCluster(t)
	rn := c.nodes[1]
	before := *rn.raft.trk.Progress[2]
	if err := rn.Step(eraftpb.Message{MsgType: msgAppResp, From: 2, To: 1, Term: 1, Index: 100}); err != nil {
		t.Fatal(err)
	}
	pr := rn.raft.trk.Progress[2]
	if pr.Match != before.Match || pr.Next != before.Next || rn.raft.raftLog.committed != 3 || rn.HasReady() {
		t.Fatalf("progress %s -> %s, commit %d", before, pr, rn.raft.raftLog.committed)
	}
	// The group still works.
	if err := rn.Propose([]byte("c")); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	for _, id := range c.ids {
		if got := c.nodes[id].raft.raftLog.committed; got != 4 {
			t.Fatalf("node %d commit = %d, want 4", id, got)
		}
	}
}
