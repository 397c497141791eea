package raft

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// leaseRead issues a ReadIndex on the leader and reports whether the lease
// answered it at once (a ReadState without a heartbeat round).
func leaseRead(t *testing.T, nw *network, id uint64, ctx string) bool {
	t.Helper()
	r := nw.peers[id]
	r.readStates = nil
	_ = r.Step(eraftpb.Message{From: id, To: id, MsgType: msgReadIndex, Entries: []*eraftpb.Entry{{Data: []byte(ctx)}}})
	answered := len(r.readStates) == 1 && string(r.readStates[0].RequestCtx) == ctx
	r.readStates = nil
	// Whatever the read sent (a heartbeat round) is not delivered: the
	// caller decides about the network.
	r.readMessages()
	return answered
}

// A leader cut off from its followers right after a check-quorum round stays
// leader for up to two election timeouts (check-quorum only looks at the
// whole previous window). Its lease must end within an election timeout of
// the last acknowledgement, before the others can elect someone else.
func TestLeaseEndsWithinElectionTimeoutOfLastAck(t *testing.T) {
	nw := newNetworkN(t, 3, withLeaseRead)
	nw.hup(1)
	mustState(t, nw.peers[1], StateLeader, 1)
	// Heartbeats acknowledged by both followers.
	nw.tick(1, 1)
	if !leaseRead(t, nw, 1, "fresh") {
		t.Fatal("a leader whose heartbeat a quorum just answered refuses a lease read")
	}
	// Run to just after a check-quorum round, then cut the leader off.
	for nw.peers[1].electionElapsed != 0 {
		nw.tick(1, 1)
	}
	nw.isolate(1)
	leader := nw.peers[1]
	et := leader.electionTimeout
	held := 0 // ticks since the last heartbeat a quorum answered
	for held < 2*et-1 {
		nw.tick(1, 1)
		held++
		if leader.state != StateLeader {
			break
		}
		if leaseRead(t, nw, 1, "cut-off") && held+2 >= et {
			t.Fatalf("lease read served %d ticks after the last quorum acknowledgement (election timeout %d)", held, et)
		}
	}
	if held < et {
		t.Fatalf("leader stepped down after %d ticks: the test needs it to outlive its lease", held)
	}
}

// While a transfer is pending, and for the rest of the term once a
// MsgTimeoutNow left (it may arrive late and force an election that ignores
// the followers' lease), reads go through heartbeat rounds.
func TestLeaseRefusedDuringAndAfterTransfer(t *testing.T) {
	nw := newNetworkN(t, 3, withLeaseRead)
	nw.hup(1)
	nw.tick(1, 1)
	leader := nw.peers[1]
	if !leaseRead(t, nw, 1, "before") {
		t.Fatal("lease read refused before any transfer")
	}

	// Transfer pending (the transferee is behind, so no MsgTimeoutNow yet).
	nw.isolate(3)
	nw.propose(1, "x")
	_ = leader.Step(eraftpb.Message{From: 3, To: 1, MsgType: msgTransfer})
	leader.readMessages()
	if leader.leadTransferee != 3 {
		t.Fatalf("transfer not pending: transferee %d", leader.leadTransferee)
	}
	if leaseRead(t, nw, 1, "pending") {
		t.Fatal("lease read served while a leadership transfer is pending")
	}

	// The transferee catches up, MsgTimeoutNow leaves but is lost, and the
	// transfer is aborted after an election timeout. The lease must not
	// come back in this term.
	nw.recover()
	var timeoutNow []eraftpb.Message
	nw.msgHook = func(m eraftpb.Message) bool {
		if m.MsgType == msgTimeoutNow {
			timeoutNow = append(timeoutNow, m)
			return false
		}
		return true
	}
	nw.tick(1, 1)
	if len(timeoutNow) != 1 {
		t.Fatalf("MsgTimeoutNow sent %d times, want 1", len(timeoutNow))
	}
	for leader.leadTransferee != None {
		nw.tick(1, 1)
	}
	nw.tick(1, 2) // heartbeats acknowledged by a quorum again
	mustState(t, leader, StateLeader, 1)
	if leaseRead(t, nw, 1, "after-abort") {
		t.Fatal("lease read served after an aborted transfer whose MsgTimeoutNow may still arrive")
	}
	// The refused read is answered by a heartbeat round instead.
	leader.readStates = nil
	nw.send(eraftpb.Message{From: 1, To: 1, MsgType: msgReadIndex, Entries: []*eraftpb.Entry{{Data: []byte("round")}}})
	if n := len(leader.readStates); n == 0 || string(leader.readStates[n-1].RequestCtx) != "round" {
		t.Fatalf("read through a heartbeat round not answered: %v", leader.readStates)
	}
	// The late MsgTimeoutNow wins node 3 the leadership despite the lease.
	nw.msgHook = nil
	nw.send(timeoutNow...)
	if nw.leader() != 3 {
		t.Fatalf("leader %d after the late MsgTimeoutNow, want 3", nw.leader())
	}
}

// Without pre-vote, a voter whose term ran ahead while it was cut off, and
// that never learned that a membership change committed, can block every
// election: the only candidate that can win has a lower term, and its vote
// requests were dropped unanswered. Configuration {1, 2} -> add 3 -> remove
// 1; node 2 acknowledged the AddNode but never learned its commit.
func TestLowerTermVoteRequestAnsweredWithTerm(t *testing.T) {
	// Node 2 still has configuration {1, 2} and has campaigned alone to
	// term 5, asking only node 1, which is gone.
	n2 := newTestRaft(t, 2, 10, 1, newTestStorage(1, 2))
	n2.loadState(eraftpb.HardState{Term: 5, Vote: 2})
	n2.becomeFollower(5, None)
	// Node 3, configuration {2, 3}, campaigns at term 3 with a log at
	// least as up to date as node 2's.
	n3 := newTestRaft(t, 3, 10, 1, newTestStorage(2, 3))
	n3.loadState(eraftpb.HardState{Term: 2})
	n3.becomeFollower(2, None)
	_ = n3.Step(eraftpb.Message{From: 3, To: 3, MsgType: msgHup})
	mustState(t, n3, StateCandidate, 3)
	var vote *eraftpb.Message
	for _, m := range n3.readMessages() {
		if m.MsgType == msgVote && m.To == 2 {
			vote = &m
		}
	}
	if vote == nil {
		t.Fatal("node 3 did not ask node 2 for its vote")
	}
	_ = n2.Step(*vote)
	resp := n2.readMessages()
	if len(resp) != 1 || resp[0].MsgType != msgVoteResp || !resp[0].Reject || resp[0].Term != 5 {
		t.Fatalf("node 2 answered a lower-term vote request with %v; want a rejection carrying term 5", resp)
	}
	// The candidate learns the term and wins the next election.
	_ = n3.Step(resp[0])
	mustState(t, n3, StateFollower, 5)
	_ = n3.Step(eraftpb.Message{From: 3, To: 3, MsgType: msgHup})
	mustState(t, n3, StateCandidate, 6)
	for _, m := range n3.readMessages() {
		if m.MsgType == msgVote && m.To == 2 {
			_ = n2.Step(m)
		}
	}
	for _, m := range n2.readMessages() {
		_ = n3.Step(m)
	}
	mustState(t, n3, StateLeader, 6)
}
