package raft

import (
	"math/rand/v2"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func newRoundRand(round, id uint64) *rand.Rand { return rand.New(rand.NewPCG(round, id)) }

func TestLeaderElection(t *testing.T) {
	tests := []struct {
		name  string
		nw    func() *network
		state StateType
		term  uint64
	}{
		{"all up", func() *network { return newNetworkN(t, 3) }, StateLeader, 1},
		{"one down", func() *network { n := newNetworkN(t, 3); n.isolate(3); return n }, StateLeader, 1},
		{"two of three down", func() *network { n := newNetworkN(t, 3); n.isolate(2); n.isolate(3); return n }, StateCandidate, 1},
		{"three of five down", func() *network {
			n := newNetworkN(t, 5)
			n.isolate(3)
			n.isolate(4)
			n.isolate(5)
			return n
		}, StateCandidate, 1},
		// Node 1 has a shorter log than node 2 and 3: they refuse to vote.
		{"stale log", func() *network {
			return newNetwork(t, []*raft{
				nodeWithLog(t, 1, []uint64{1, 2, 3}),
				nodeWithLog(t, 2, []uint64{1, 2, 3}, 1),
				nodeWithLog(t, 3, []uint64{1, 2, 3}, 1),
			})
		}, StateFollower, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := tt.nw()
			nw.hup(1)
			mustState(t, nw.peers[1], tt.state, tt.term)
		})
	}
}

func TestLogReplication(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.propose(1, "a")
	nw.hup(2)
	nw.propose(1, "b") // forwarded to the new leader 2
	for id, p := range nw.peers {
		if p.raftLog.committed != 4 {
			t.Fatalf("node %d committed = %d, want 4", id, p.raftLog.committed)
		}
		var data []string
		for _, e := range p.raftLog.allEntries() {
			if len(e.Data) > 0 {
				data = append(data, string(e.Data))
			}
		}
		if len(data) != 2 || data[0] != "a" || data[1] != "b" {
			t.Fatalf("node %d data = %v", id, data)
		}
	}
}

func TestSingleNodeCommit(t *testing.T) {
	nw := newNetworkN(t, 1)
	nw.hup(1)
	nw.propose(1, "a")
	nw.propose(1, "b")
	if c := nw.peers[1].raftLog.committed; c != 3 {
		t.Fatalf("committed = %d, want 3", c)
	}
}

// Two candidates at the same term: one wins, the other (with a stale log)
// cannot, and rejoins as follower.
func TestDuelingCandidates(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.cut(1, 3)
	nw.hup(1)
	nw.hup(3)
	mustState(t, nw.peers[1], StateLeader, 1)
	mustState(t, nw.peers[3], StateCandidate, 1)
	nw.recover()
	// Node 3 campaigns at term 2; node 2 has a longer log and refuses, node
	// 1 steps down on seeing term 2 but also refuses.
	nw.hup(3)
	mustState(t, nw.peers[3], StateFollower, 2)
	mustState(t, nw.peers[1], StateFollower, 2)
	// The cluster recovers: node 1 (up to date) wins at term 3 and node 3
	// catches up.
	nw.hup(1)
	mustState(t, nw.peers[1], StateLeader, 3)
	if got, want := ltoa(nw.peers[3].raftLog), ltoa(nw.peers[1].raftLog); got != want {
		t.Fatalf("log of 3:\n%s\nwant\n%s", got, want)
	}
}

// A candidate that loses contact keeps bumping its term but rejoins.
func TestCandidateConcede(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.isolate(1)
	nw.hup(1)
	nw.hup(3)
	nw.recover()
	nw.send(eraftpb.Message{From: 3, To: 3, MsgType: msgBeat})
	nw.propose(3, "force follower")
	nw.send(eraftpb.Message{From: 3, To: 3, MsgType: msgBeat})
	mustState(t, nw.peers[1], StateFollower, 1)
	if got, want := ltoa(nw.peers[1].raftLog), ltoa(nw.peers[3].raftLog); got != want {
		t.Fatalf("log of 1:\n%s\nwant\n%s", got, want)
	}
}

func TestProposalWithoutLeaderIsDropped(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	err := r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if err != ErrProposalDropped {
		t.Fatalf("err = %v, want ErrProposalDropped", err)
	}
	r.becomeCandidate()
	err = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if err != ErrProposalDropped {
		t.Fatalf("candidate: err = %v, want ErrProposalDropped", err)
	}
}

func TestProposalForwarding(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	r2 := nw.peers[2]
	if err := r2.Step(eraftpb.Message{From: 2, To: 2, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	msgs := r2.readMessages()
	if len(msgs) != 1 || msgs[0].To != 1 || msgs[0].MsgType != msgProp || msgs[0].Term != 0 {
		t.Fatalf("msgs = %v, want a term-less MsgProp to 1", msgs)
	}
	r2.disableProposalForwarding = true
	err := r2.Step(eraftpb.Message{From: 2, To: 2, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if err != ErrProposalDropped {
		t.Fatalf("err = %v with forwarding disabled", err)
	}
}

// The follower's commit index from a heartbeat never exceeds its log.
func TestHeartbeatCommitBoundedByMatch(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.becomeCandidate()
	r.becomeLeader()
	commitNoopEntry(t, r)
	r.trk.Progress[2].Match = 0
	r.bcastHeartbeat()
	for _, m := range r.readMessages() {
		want := r.raftLog.committed
		if m.To == 2 {
			want = 0
		}
		if m.Commit != want {
			t.Fatalf("heartbeat to %d commit = %d, want %d", m.To, m.Commit, want)
		}
	}
}

// A node restarted from storage keeps term, vote and commit.
func TestRestoreFromStorage(t *testing.T) {
	s := newTestStorage(1, 2, 3)
	_ = s.Append(entsWithTerms(1, 1, 2))
	_ = s.SetHardState(eraftpb.HardState{Term: 2, Vote: 3, Commit: 2})
	r := newTestRaft(t, 1, 10, 1, s)
	if r.Term != 2 || r.Vote != 3 || r.raftLog.committed != 2 || r.raftLog.lastIndex() != 3 {
		t.Fatalf("restored term=%d vote=%d commit=%d last=%d", r.Term, r.Vote, r.raftLog.committed, r.raftLog.lastIndex())
	}
	// A HardState commit beyond the log is refused.
	_ = s.SetHardState(eraftpb.HardState{Term: 2, Commit: 9})
	if _, err := newRaft(newTestConfig(1, 10, 1, s)); err == nil {
		t.Fatal("expected error for commit beyond last index")
	}
}

// After every step of a random run of proposals and elections, the log
// invariant applied <= committed <= lastIndex holds (network.send checks it)
// and committed entries agree across nodes.
func TestRandomRunKeepsCommittedPrefix(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		nw := newNetworkN(t, 5)
		rng := rand.New(rand.NewPCG(seed, 7))
		nw.rand = rand.New(rand.NewPCG(seed, 8))
		for step := 0; step < 200; step++ {
			id := uint64(rng.IntN(5) + 1)
			switch rng.IntN(10) {
			case 0:
				nw.hup(id)
			case 1:
				nw.recover()
				nw.drop(id, uint64(rng.IntN(5)+1), 0.5)
			default:
				nw.propose(id, "x")
			}
			checkCommittedAgree(t, nw)
		}
	}
}

func checkCommittedAgree(t *testing.T, nw *network) {
	t.Helper()
	var ref *raft
	for _, p := range nw.peers {
		if ref == nil || p.raftLog.committed > ref.raftLog.committed {
			ref = p
		}
	}
	for id, p := range nw.peers {
		for i := p.raftLog.firstIndex(); i <= p.raftLog.committed; i++ {
			a, _ := p.raftLog.term(i)
			b, _ := ref.raftLog.term(i)
			if a != b {
				t.Fatalf("node %d and %d disagree on committed entry %d: term %d vs %d", id, ref.id, i, a, b)
			}
		}
	}
}
