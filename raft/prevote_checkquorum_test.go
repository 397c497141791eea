package raft

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// A partitioned node with pre-vote keeps losing pre-elections without
// bumping its term, so it does not disrupt the leader when it rejoins.
func TestPreVotePartitionedNodeDoesNotDisruptLeader(t *testing.T) {
	nw := newNetworkN(t, 3, withPreVote)
	nw.hup(1)
	nw.propose(1, "a")
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		nw.tick(3, 20) // several election timeouts
	}
	if r3 := nw.peers[3]; r3.Term != 1 || r3.state != StatePreCandidate {
		t.Fatalf("isolated node: state %s term %d, want pre-candidate at term 1", r3.state, r3.Term)
	}
	nw.recover()
	nw.propose(1, "b")
	// Time passes for everyone: the leader's heartbeats keep node 3 a
	// follower, and the term never moves.
	nw.tickAll(50)
	mustState(t, nw.peers[1], StateLeader, 1)
	mustState(t, nw.peers[3], StateFollower, 1)
	nw.send(eraftpb.Message{From: 1, To: 1, MsgType: msgBeat})
	if got, want := ltoa(nw.peers[3].raftLog), ltoa(nw.peers[1].raftLog); got != want {
		t.Fatalf("log of 3:\n%s\nwant\n%s", got, want)
	}
}

// Without pre-vote the same scenario disrupts the leader: the rejoining node
// forces a new term. This is the contrast that motivates pre-vote.
func TestWithoutPreVotePartitionedNodeDisruptsLeader(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.isolate(3)
	nw.tick(3, 20)
	if nw.peers[3].Term < 2 {
		t.Fatalf("term of isolated node = %d, want > 1", nw.peers[3].Term)
	}
	nw.recover()
	nw.tick(3, 20)
	if nw.peers[1].Term == 1 {
		t.Fatal("leader was not disrupted")
	}
}

// A pre-candidate that wins the pre-vote runs a real election at term+1.
func TestPreVoteElection(t *testing.T) {
	nw := newNetworkN(t, 3, withPreVote)
	nw.hup(1)
	mustState(t, nw.peers[1], StateLeader, 1)
	// Pre-vote grants do not change the voters' term or vote.
	for _, id := range []uint64{2, 3} {
		if p := nw.peers[id]; p.Vote != 1 || p.Term != 1 {
			t.Fatalf("node %d vote=%d term=%d", id, p.Vote, p.Term)
		}
	}
}

// A pre-candidate whose log is behind loses and stays at its term; the
// voters reject without changing term.
func TestPreVoteRejectedForStaleLog(t *testing.T) {
	nw := newNetworkN(t, 3, withPreVote)
	nw.hup(1)
	nw.isolate(3)
	nw.propose(1, "a")
	nw.recover()
	// Keep node 3 from hearing the leader, then let it campaign.
	nw.ignore(msgApp)
	nw.ignore(msgHeartbeat)
	nw.hup(3)
	mustState(t, nw.peers[3], StateFollower, 1)
	mustState(t, nw.peers[1], StateLeader, 1)
}

// A pre-vote at a lower term is rejected with the voter's term, so the
// pre-candidate learns it is behind and becomes follower at that term.
func TestPreVoteLowerTermRejected(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3), withPreVote)
	r.loadState(eraftpb.HardState{Term: 5})
	_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgPreVote, Term: 3})
	msgs := r.readMessages()
	if len(msgs) != 1 || msgs[0].MsgType != msgPreVoteResp || !msgs[0].Reject || msgs[0].Term != 5 {
		t.Fatalf("msgs = %v", msgs)
	}
	pc := newTestRaft(t, 2, 10, 1, newTestStorage(1, 2, 3), withPreVote)
	pc.loadState(eraftpb.HardState{Term: 2})
	_ = pc.Step(eraftpb.Message{From: 2, To: 2, MsgType: msgHup})
	mustState(t, pc, StatePreCandidate, 2)
	_ = pc.Step(msgs[0])
	mustState(t, pc, StateFollower, 5)
}

// With check-quorum, a leader that has not heard from a quorum for an
// election timeout steps down.
func TestCheckQuorumIsolatedLeaderStepsDown(t *testing.T) {
	nw := newNetworkN(t, 3, withCheckQuorum)
	nw.hup(1)
	nw.isolate(1)
	r1 := nw.peers[1]
	// The first check after isolation still sees the acks from before it;
	// the second finds no quorum.
	nw.tick(1, r1.electionTimeout)
	mustState(t, r1, StateLeader, 1)
	nw.tick(1, r1.electionTimeout)
	mustState(t, r1, StateFollower, 1)
}

// A connected check-quorum leader stays leader across many timeouts.
func TestCheckQuorumConnectedLeaderStays(t *testing.T) {
	nw := newNetworkN(t, 3, withCheckQuorum)
	nw.hup(1)
	for i := 0; i < 5*10; i++ {
		nw.tick(1, 1)
	}
	mustState(t, nw.peers[1], StateLeader, 1)
}

// Leader lease (follower side): with check-quorum, a follower that heard
// from the leader within the election timeout ignores vote requests, even at
// a higher term, and its term does not change.
func TestCheckQuorumFollowerIgnoresVoteInLease(t *testing.T) {
	nw := newNetworkN(t, 3, withCheckQuorum)
	nw.hup(1)
	r2 := nw.peers[2]
	_ = r2.Step(eraftpb.Message{From: 3, To: 2, MsgType: msgVote, Term: 5, Index: 10, LogTerm: 5})
	if len(r2.readMessages()) != 0 || r2.Term != 1 || r2.lead != 1 {
		t.Fatalf("vote in lease was not ignored: term %d lead %d", r2.Term, r2.lead)
	}
	// After an election timeout without the leader, the vote is granted.
	for i := 0; i < r2.electionTimeout; i++ {
		r2.electionElapsed++
	}
	_ = r2.Step(eraftpb.Message{From: 3, To: 2, MsgType: msgVote, Term: 5, Index: 10, LogTerm: 5})
	msgs := r2.readMessages()
	if len(msgs) != 1 || msgs[0].Reject || r2.Term != 5 {
		t.Fatalf("vote after lease: msgs %v term %d", msgs, r2.Term)
	}
}

// A vote forced by a leadership transfer is granted even in lease.
func TestCheckQuorumTransferVoteBypassesLease(t *testing.T) {
	nw := newNetworkN(t, 3, withCheckQuorum)
	nw.hup(1)
	r2 := nw.peers[2]
	_ = r2.Step(eraftpb.Message{From: 3, To: 2, MsgType: msgVote, Term: 2, Index: 1, LogTerm: 1,
		Context: []byte(campaignTransfer)})
	msgs := r2.readMessages()
	if len(msgs) != 1 || msgs[0].Reject || r2.Vote != 3 {
		t.Fatalf("forced vote: msgs %v vote %d", msgs, r2.Vote)
	}
}

// A node that bumped its term while partitioned (no pre-vote) is stuck
// with check-quorum: others ignore its votes. Its answer to the leader's
// heartbeat carries the higher term, the leader steps down, and the cluster
// converges on a new leader.
func TestCheckQuorumFreesStuckCandidate(t *testing.T) {
	nw := newNetworkN(t, 3, withCheckQuorum)
	nw.hup(1)
	nw.isolate(3)
	nw.hup(3)
	nw.hup(3)
	if nw.peers[3].Term != 3 {
		t.Fatalf("term of 3 = %d", nw.peers[3].Term)
	}
	nw.recover()
	// 3's vote requests are ignored by the others (in lease).
	nw.hup(3)
	mustState(t, nw.peers[1], StateLeader, 1)
	// The leader's heartbeat gets an answer at term 4; it steps down.
	nw.send(eraftpb.Message{From: 1, To: 1, MsgType: msgBeat})
	mustState(t, nw.peers[1], StateFollower, nw.peers[3].Term)
	// The cluster elects a leader at a term above 3's.
	for i := 0; i < 100 && nw.leader() == None; i++ {
		nw.tickAll(1)
	}
	if nw.leader() == None {
		t.Fatal("no leader after recovery")
	}
}

// A removed or unknown node never campaigns.
func TestNonVoterDoesNotCampaign(t *testing.T) {
	r := newTestRaft(t, 4, 10, 1, newTestStorage(1, 2, 3))
	for i := 0; i < 100; i++ {
		r.tick()
	}
	if r.state != StateFollower || len(r.readMessages()) != 0 {
		t.Fatalf("non-voter campaigned: %s", r.state)
	}
}

// A node restarted with StartInLease may have acknowledged a leader that is
// still serving lease reads: it ignores votes for its first election
// timeout, then grants them. Without the option it grants at once.
func TestStartInLeaseIgnoresVotesAfterRestart(t *testing.T) {
	restarted := func(opts ...func(*Config)) *raft {
		s := newTestStorage(1, 2, 3)
		if err := s.SetHardState(eraftpb.HardState{Term: 1, Vote: 1}); err != nil {
			t.Fatal(err)
		}
		return newTestRaft(t, 2, 10, 1, s, append([]func(*Config){withCheckQuorum}, opts...)...)
	}
	vote := eraftpb.Message{From: 3, To: 2, MsgType: msgVote, Term: 2}

	r := restarted(func(c *Config) { c.StartInLease = true })
	r.randomizedElectionTimeout = 2*r.electionTimeout - 1 // it must not campaign itself here
	_ = r.Step(vote)
	if msgs := r.readMessages(); len(msgs) != 0 || r.Term != 1 {
		t.Fatalf("vote right after restart: msgs %v term %d; want it ignored", msgs, r.Term)
	}
	for i := 0; i < r.electionTimeout-1; i++ {
		r.tickElection()
		_ = r.Step(vote)
		if msgs := r.readMessages(); len(msgs) != 0 {
			t.Fatalf("vote granted %d ticks after restart, before the election timeout: %v", i+1, msgs)
		}
	}
	r.tickElection()
	_ = r.Step(vote)
	if msgs := r.readMessages(); len(msgs) != 1 || msgs[0].Reject || r.Term != 2 {
		t.Fatalf("vote after the start lease: msgs %v term %d; want it granted", msgs, r.Term)
	}

	r = restarted()
	_ = r.Step(vote)
	if msgs := r.readMessages(); len(msgs) != 1 || msgs[0].Reject {
		t.Fatalf("without StartInLease: msgs %v; want the vote granted at once", msgs)
	}
}
