package raft

import (
	"errors"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func transfer(nw *network, from, to uint64) {
	nw.send(eraftpb.Message{From: to, To: from, MsgType: msgTransfer})
}

func TestLeaderTransferToUpToDateNode(t *testing.T) {
	for _, opt := range []func(*Config){func(*Config) {}, withCheckQuorum, withPreVote} {
		nw := newNetworkN(t, 3, opt)
		nw.hup(1)
		transfer(nw, 1, 2)
		mustState(t, nw.peers[1], StateFollower, 2)
		mustState(t, nw.peers[2], StateLeader, 2)
		if nw.peers[1].lead != 2 {
			t.Fatalf("old leader's lead = %d", nw.peers[1].lead)
		}
		// And back, with check-quorum leases in force everywhere.
		transfer(nw, 2, 1)
		mustState(t, nw.peers[1], StateLeader, 3)
	}
}

// The leader sends MsgTimeoutNow only once the target has caught up.
func TestLeaderTransferToSlowFollower(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.isolate(3)
	nw.propose(1, "a")
	nw.propose(1, "b")
	nw.recover()
	var sawTimeoutNow bool
	var matchAtTimeoutNow uint64
	nw.msgHook = func(m eraftpb.Message) bool {
		if m.MsgType == msgTimeoutNow {
			sawTimeoutNow = true
			matchAtTimeoutNow = nw.peers[1].trk.Progress[3].Match
		}
		return true
	}
	if nw.peers[1].trk.Progress[3].Match == nw.peers[1].raftLog.lastIndex() {
		t.Fatal("node 3 should be behind")
	}
	transfer(nw, 1, 3)
	if !sawTimeoutNow || matchAtTimeoutNow != 3 {
		t.Fatalf("MsgTimeoutNow sent=%t with match %d, want after catch-up to 3", sawTimeoutNow, matchAtTimeoutNow)
	}
	mustState(t, nw.peers[3], StateLeader, 2)
}

// While transferring, the leader refuses proposals; if the transfer does
// not finish within an election timeout, it is aborted and proposals are
// accepted again.
func TestLeaderTransferRefusesProposalsThenTimesOut(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.isolate(3)
	r1 := nw.peers[1]
	transfer(nw, 1, 3)
	if r1.leadTransferee != 3 {
		t.Fatalf("transferee = %d", r1.leadTransferee)
	}
	err := r1.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: err = %v", err)
	}
	nw.tick(1, r1.electionTimeout-1)
	if r1.leadTransferee != 3 {
		t.Fatal("transfer aborted too early")
	}
	nw.tick(1, 1)
	if r1.leadTransferee != None {
		t.Fatal("transfer not aborted after an election timeout")
	}
	mustState(t, r1, StateLeader, 1)
	if err := r1.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}}); err != nil {
		t.Fatalf("proposal after abort: %v", err)
	}
}

func TestLeaderTransferIgnored(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	r1 := nw.peers[1]
	transfer(nw, 1, 1) // to self
	transfer(nw, 1, 9) // to a non-member
	if r1.leadTransferee != None || r1.state != StateLeader {
		t.Fatalf("transferee %d state %s", r1.leadTransferee, r1.state)
	}
}

// A second transfer to another node replaces the first; a repeat of the
// same transfer is ignored.
func TestLeaderTransferSecondTransfer(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.isolate(3)
	transfer(nw, 1, 3)
	nw.tick(1, 5)
	transfer(nw, 1, 3)
	if nw.peers[1].electionElapsed != 5 {
		t.Fatal("repeated transfer reset the timer")
	}
	transfer(nw, 1, 2)
	mustState(t, nw.peers[2], StateLeader, 2)
}

// A transfer requested on a follower is forwarded to the leader.
func TestLeaderTransferFromFollower(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.send(eraftpb.Message{From: 3, To: 2, MsgType: msgTransfer})
	mustState(t, nw.peers[3], StateLeader, 2)
}

// The transfer target campaigns directly, skipping pre-vote, and its vote
// carries the transfer context.
func TestLeaderTransferSkipsPreVote(t *testing.T) {
	r := newTestRaft(t, 2, 10, 1, newTestStorage(1, 2, 3), withPreVote)
	r.becomeFollower(1, 1)
	_ = r.Step(eraftpb.Message{From: 1, To: 2, Term: 1, MsgType: msgTimeoutNow})
	mustState(t, r, StateCandidate, 2)
	for _, m := range r.readMessages() {
		if m.MsgType != msgVote || string(m.Context) != string(campaignTransfer) {
			t.Fatalf("unexpected %s", DescribeMessage(m, nil))
		}
	}
}

// Removing the transfer target aborts the transfer.
func TestLeaderTransferAbortedByRemoval(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.becomeCandidate()
	r.becomeLeader()
	r.leadTransferee = 3
	r.applyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 3})
	if r.leadTransferee != None {
		t.Fatal("transfer to a removed node not aborted")
	}
}
