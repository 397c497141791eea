package raft

import (
	"errors"
	"slices"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// learnerCluster is a three-voter cluster led by node 1 in which node 4 has
// joined as a learner (through a snapshot, like any new member) and caught
// up.
func learnerCluster(t *testing.T) *rawCluster {
	t.Helper()
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	c.join(4, eraftpb.ConfChangeType_AddLearnerNode)
	for _, id := range c.ids {
		tr := &c.nodes[id].raft.trk
		if !slices.Equal(tr.Voters(), []uint64{1, 2, 3}) || !slices.Equal(tr.Learners(), []uint64{4}) {
			t.Fatalf("node %d: voters %v learners %v", id, tr.Voters(), tr.Learners())
		}
	}
	return c
}

// TestLearnerReceivesTheLog: a learner joins through a snapshot that names
// it a learner, then receives every entry like a voter.
func TestLearnerReceivesTheLog(t *testing.T) {
	c := learnerCluster(t)
	if got := c.applied[4]; !slices.Equal(got, []string{"after"}) {
		t.Fatalf("learner applied %v", got)
	}
	_ = c.nodes[1].Propose([]byte("more"))
	c.stabilize()
	if st := c.nodes[4].Status(); st.HardState.Commit != c.nodes[1].Status().HardState.Commit || c.applied[4][1] != "more" {
		t.Fatalf("learner: %s applied %v", st, c.applied[4])
	}
	if pr := c.nodes[1].Status().Progress[4]; !pr.IsLearner || pr.Match != c.nodes[1].Status().LastIndex {
		t.Fatalf("leader's view of the learner: %v", pr)
	}
}

// TestLearnerDoesNotCountInQuorum: with two of three voters cut off, the
// leader and the learner acknowledging an entry do not commit it.
func TestLearnerDoesNotCountInQuorum(t *testing.T) {
	c := learnerCluster(t)
	c.isolated[2], c.isolated[3] = true, true
	commit := c.nodes[1].Status().HardState.Commit
	_ = c.nodes[1].Propose([]byte("needs a voter"))
	c.stabilize()
	if pr := c.nodes[1].Status().Progress[4]; pr.Match != c.nodes[1].Status().LastIndex {
		t.Fatalf("the learner did not get the entry: %v", pr)
	}
	if got := c.nodes[1].Status().HardState.Commit; got != commit {
		t.Fatalf("committed %d (was %d) with one voter and a learner", got, commit)
	}
	c.isolated[2] = false
	c.nodes[1].Tick()
	c.stabilize()
	if got := c.nodes[1].Status().HardState.Commit; got == commit {
		t.Fatal("not committed with two of three voters")
	}
}

// TestLearnerNeverCampaigns: a learner that stops hearing from the leader
// does not start an election, ignores MsgTimeoutNow, and the leader refuses
// to transfer leadership to it.
func TestLearnerNeverCampaigns(t *testing.T) {
	c := learnerCluster(t)
	c.isolated[1] = true
	term := c.nodes[4].Status().HardState.Term
	for range 100 {
		c.nodes[4].Tick()
	}
	c.stabilize()
	if st := c.nodes[4].Status(); st.SoftState.RaftState != StateFollower || st.HardState.Term != term {
		t.Fatalf("learner after 100 ticks without a leader: %s", st)
	}
	if err := c.nodes[4].Campaign(); err != nil {
		t.Fatal(err)
	}
	_ = c.nodes[4].Step(eraftpb.Message{From: 1, To: 4, Term: term, MsgType: eraftpb.MessageType_MsgTimeoutNow})
	if st := c.nodes[4].Status(); st.SoftState.RaftState != StateFollower || st.HardState.Term != term {
		t.Fatalf("learner campaigned: %s", st)
	}
	c.isolated[1] = false
	c.nodes[1].TransferLeader(4)
	c.stabilize()
	if st := c.nodes[1].Status(); st.SoftState.RaftState != StateLeader || st.LeadTransferee != None {
		t.Fatalf("leader after a transfer to the learner: %s", st)
	}
}

// TestLearnerVoteIsNotCounted: a candidate asks only voters, and a grant
// from a learner does not make it win.
func TestLearnerVoteIsNotCounted(t *testing.T) {
	c := learnerCluster(t)
	c.isolated[1] = true // the leader is gone; node 2 campaigns
	c.isolated[3] = true // node 3 does not answer
	var asked []uint64
	c.watch = func(m eraftpb.Message) {
		if m.MsgType == eraftpb.MessageType_MsgRequestVote {
			asked = append(asked, m.To)
		}
	}
	_ = c.nodes[2].Campaign()
	c.stabilize()
	if slices.Contains(asked, 4) {
		t.Fatal("the candidate asked the learner for its vote")
	}
	term := c.nodes[2].Status().HardState.Term
	_ = c.nodes[2].Step(eraftpb.Message{From: 4, To: 2, Term: term, MsgType: eraftpb.MessageType_MsgRequestVoteResponse})
	if st := c.nodes[2].Status(); st.SoftState.RaftState == StateLeader {
		t.Fatalf("node 2 won with its own vote and a learner's: %s", st)
	}
}

// TestPromoteLearner: AddNode of a learner makes it a voter that keeps its
// replication progress, and from then on counts: 3 of 4 voters are needed.
func TestPromoteLearner(t *testing.T) {
	c := learnerCluster(t)
	match := c.nodes[1].Status().Progress[4].Match
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddNode, 4); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	for _, id := range c.ids {
		tr := &c.nodes[id].raft.trk
		if !slices.Equal(tr.Voters(), []uint64{1, 2, 3, 4}) || len(tr.Learners()) != 0 {
			t.Fatalf("node %d after promotion: voters %v learners %v", id, tr.Voters(), tr.Learners())
		}
	}
	if pr := c.nodes[1].Status().Progress[4]; pr.IsLearner || pr.Match < match {
		t.Fatalf("promoted learner's progress: %v (match was %d)", pr, match)
	}
	if !c.nodes[4].raft.promotable() {
		t.Fatal("the promoted node may not campaign")
	}
	c.isolated[3], c.isolated[4] = true, true
	commit := c.nodes[1].Status().HardState.Commit
	_ = c.nodes[1].Propose([]byte("needs 3 of 4"))
	c.stabilize()
	if got := c.nodes[1].Status().HardState.Commit; got != commit {
		t.Fatalf("committed with 2 of 4 voters: %d", got)
	}
	// A voter is never demoted.
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_AddLearnerNode, 2); !errors.Is(err, ErrInvalidConfChange) {
		t.Fatalf("demotion: %v", err)
	}
}

// TestRemoveLearner: removing a learner stops replication to it and leaves
// the voters as they were.
func TestRemoveLearner(t *testing.T) {
	c := learnerCluster(t)
	if err := c.proposeConfChange(1, eraftpb.ConfChangeType_RemoveNode, 4); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	tr := &c.nodes[1].raft.trk
	if !slices.Equal(tr.Voters(), []uint64{1, 2, 3}) || len(tr.Learners()) != 0 || tr.Progress[4] != nil {
		t.Fatalf("after removing the learner: %s", tr.String())
	}
	var sent bool
	c.watch = func(m eraftpb.Message) { sent = sent || (m.To == 4 && m.From == 1) }
	_ = c.nodes[1].Propose([]byte("x"))
	c.nodes[1].Tick()
	c.stabilize()
	if sent {
		t.Fatal("the leader still sends to the removed learner")
	}
}

// TestSingleVoterDoesNotTellUnpersistedCommit: a region of one voter and a
// learner. The voter commits what it appends at once, and its MsgApp may
// leave before the append is persisted (doc.go); the commit index that
// message carries must not cover the unpersisted entries, or the learner
// would apply an entry the leader can still lose in a crash and then write
// differently at the same index.
func TestSingleVoterDoesNotTellUnpersistedCommit(t *testing.T) {
	c := newRawCluster(t, 1)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	c.join(2, eraftpb.ConfChangeType_AddLearnerNode)
	c.stabilize()
	leader := c.nodes[1]
	persisted := leader.Status().LastIndex
	if err := leader.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := leader.Ready()
	if rd.HardState.Commit != persisted+1 {
		t.Fatalf("a single voter commits what it appends: commit %d, want %d", rd.HardState.Commit, persisted+1)
	}
	sawApp := false
	for _, m := range rd.Messages {
		if m.To == 2 && m.MsgType == eraftpb.MessageType_MsgAppend {
			sawApp = true
			if m.Commit > persisted {
				t.Fatalf("MsgApp to the learner carries commit %d before the leader persisted past %d", m.Commit, persisted)
			}
		}
	}
	if !sawApp {
		t.Fatal("no MsgApp to the learner in the Ready that appended the entry")
	}
	// Once persisted, the learner learns the commit (at the latest from
	// the next heartbeat) and applies the entry.
	if err := c.storage[1].Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	_ = c.storage[1].SetHardState(rd.HardState)
	c.inbox = append(c.inbox, rd.Messages...)
	leader.Advance(rd)
	c.stabilize()
	for range 2 {
		leader.Tick()
	}
	c.stabilize()
	if got := c.applied[2]; len(got) == 0 || got[len(got)-1] != "x" {
		t.Fatalf("the learner applied %v, want it to end with x", got)
	}
}
