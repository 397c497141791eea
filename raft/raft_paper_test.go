package raft

// Tests named after the rules of the Raft paper (Ongaro & Ousterhout 2014),
// one rule per test, §5.1 to §5.4.

import (
	"reflect"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// §5.1: a node that sees a higher term adopts it and becomes follower,
// whatever its role.
func TestUpdateTermFromMessage(t *testing.T) {
	for _, state := range []StateType{StateFollower, StateCandidate, StateLeader} {
		t.Run(state.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
			switch state {
			case StateCandidate:
				r.becomeCandidate()
			case StateLeader:
				r.becomeCandidate()
				r.becomeLeader()
			}
			_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgApp, Term: 2})
			mustState(t, r, StateFollower, 2)
			if r.lead != 2 {
				t.Fatalf("lead = %d, want 2", r.lead)
			}
		})
	}
}

// §5.1: a request with a stale term is rejected (here: ignored, with no
// side effects).
func TestRejectStaleTermMessage(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.loadState(eraftpb.HardState{Term: 2})
	called := false
	r.step = func(*raft, eraftpb.Message) error { called = true; return nil }
	_ = r.Step(eraftpb.Message{From: 2, MsgType: msgApp, Term: 1})
	if called || len(r.msgs) != 0 {
		t.Fatalf("stale message was processed (called=%t msgs=%v)", called, msgTypes(r.msgs))
	}
}

// §5.2: nodes start as followers.
func TestStartAsFollower(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	mustState(t, r, StateFollower, 0)
}

// §5.2: a leader sends heartbeats every heartbeat interval.
func TestLeaderBcastBeat(t *testing.T) {
	const hi = 1
	r := newTestRaft(t, 1, 10, hi, newTestStorage(1, 2, 3))
	r.becomeCandidate()
	r.becomeLeader()
	r.readMessages()
	for i := 0; i < hi; i++ {
		r.tick()
	}
	got := msgTypes(r.readMessages())
	want := []string{"1->2 MsgHeartbeat", "1->3 MsgHeartbeat"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("msgs = %v, want %v", got, want)
	}
}

// §5.2: a follower or candidate that hears nothing for an election timeout
// starts an election: it increments its term, votes for itself and asks the
// others for votes.
func TestNonleaderStartElection(t *testing.T) {
	for _, state := range []StateType{StateFollower, StateCandidate} {
		t.Run(state.String(), func(t *testing.T) {
			const et = 10
			r := newTestRaft(t, 1, et, 1, newTestStorage(1, 2, 3))
			if state == StateCandidate {
				r.becomeCandidate()
			}
			term := r.Term
			for i := 1; i < 2*et; i++ {
				r.tick()
			}
			mustState(t, r, StateCandidate, term+1)
			if r.Vote != 1 || !r.trk.Votes[1] {
				t.Fatalf("did not vote for itself: vote=%d votes=%v", r.Vote, r.trk.Votes)
			}
			got := msgTypes(r.readMessages())
			want := []string{"1->2 MsgVote", "1->3 MsgVote"}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("msgs = %v, want %v", got, want)
			}
		})
	}
}

// §5.2: a candidate wins with votes from a majority, loses on a majority of
// rejections, and otherwise stays candidate.
func TestLeaderElectionInOneRoundRPC(t *testing.T) {
	tests := []struct {
		size  int
		votes map[uint64]bool
		state StateType
	}{
		{1, map[uint64]bool{}, StateLeader},
		{3, map[uint64]bool{2: true, 3: true}, StateLeader},
		{3, map[uint64]bool{2: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true, 4: true, 5: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true}, StateLeader},
		{3, map[uint64]bool{2: false, 3: false}, StateFollower},
		{5, map[uint64]bool{2: false, 3: false, 4: false}, StateFollower},
		{3, map[uint64]bool{}, StateCandidate},
		{5, map[uint64]bool{2: true}, StateCandidate},
		{5, map[uint64]bool{2: false, 3: false}, StateCandidate},
	}
	for i, tt := range tests {
		var ids []uint64
		for id := 1; id <= tt.size; id++ {
			ids = append(ids, uint64(id))
		}
		r := newTestRaft(t, 1, 10, 1, newTestStorage(ids...))
		_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgHup})
		for id, vote := range tt.votes {
			_ = r.Step(eraftpb.Message{From: id, To: 1, Term: r.Term, MsgType: msgVoteResp, Reject: !vote})
		}
		if r.state != tt.state || r.Term != 1 {
			t.Errorf("#%d: state %s term %d, want %s term 1", i, r.state, r.Term, tt.state)
		}
	}
}

// §5.2: each node votes for at most one candidate per term, first come
// first served.
func TestFollowerVote(t *testing.T) {
	tests := []struct {
		vote, nvote uint64
		wreject     bool
	}{
		{None, 2, false},
		{None, 3, false},
		{2, 2, false},
		{3, 3, false},
		{2, 3, true},
		{3, 2, true},
	}
	for i, tt := range tests {
		r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
		r.loadState(eraftpb.HardState{Term: 1, Vote: tt.vote})
		_ = r.Step(eraftpb.Message{From: tt.nvote, To: 1, Term: 1, MsgType: msgVote})
		msgs := r.readMessages()
		if len(msgs) != 1 || msgs[0].MsgType != msgVoteResp || msgs[0].Reject != tt.wreject {
			t.Errorf("#%d: msgs = %v, want one MsgVoteResp reject=%t", i, msgs, tt.wreject)
		}
	}
}

// §5.2: a candidate that hears from a leader of its term steps back.
func TestCandidateFallback(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgHup})
	mustState(t, r, StateCandidate, 1)
	_ = r.Step(eraftpb.Message{From: 2, To: 1, Term: 1, MsgType: msgApp})
	mustState(t, r, StateFollower, 1)
}

// §5.2: election timeouts are random in [et, 2et), so that split votes are
// rare.
func TestRandomizedElectionTimeout(t *testing.T) {
	const et = 10
	r := newTestRaft(t, 1, et, 1, newTestStorage(1, 2, 3))
	seen := map[int]bool{}
	for i := 0; i < 1000; i++ {
		r.resetRandomizedElectionTimeout()
		to := r.randomizedElectionTimeout
		if to < et || to >= 2*et {
			t.Fatalf("timeout %d out of [%d, %d)", to, et, 2*et)
		}
		seen[to] = true
	}
	if len(seen) != et {
		t.Fatalf("saw %d distinct timeouts, want %d", len(seen), et)
	}
}

// §5.2: in a cluster, only one candidate times out first most of the time;
// followers time out and campaign at different ticks.
func TestFollowersElectionTimeoutNonconflict(t *testing.T) {
	const et, size = 10, 5
	conflicts := 0
	for round := 0; round < 100; round++ {
		var rs []*raft
		ids := []uint64{1, 2, 3, 4, 5}
		for _, id := range ids {
			c := newTestConfig(id, et, 1, newTestStorage(ids...))
			c.Rand = nil
			r, err := newRaft(c)
			if err != nil {
				t.Fatal(err)
			}
			r.rand = newRoundRand(uint64(round), id)
			r.resetRandomizedElectionTimeout()
			rs = append(rs, r)
		}
		timedOut := 0
		for tick := 0; tick < 2*et && timedOut == 0; tick++ {
			for _, r := range rs {
				r.tick()
				if len(r.readMessages()) > 0 {
					timedOut++
				}
			}
		}
		if timedOut > 1 {
			conflicts++
		}
	}
	if p := float64(conflicts) / 100; p > 0.4 {
		t.Fatalf("conflict probability %.2f too high", p)
	}
}

// §5.3: the leader appends a proposal to its log and sends it to all
// followers.
func TestLeaderStartReplication(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.becomeCandidate()
	r.becomeLeader()
	commitNoopEntry(t, r)
	li := r.raftLog.lastIndex()
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("some data")}}})
	if r.raftLog.lastIndex() != li+1 || r.raftLog.committed != li {
		t.Fatalf("last %d committed %d, want %d and %d", r.raftLog.lastIndex(), r.raftLog.committed, li+1, li)
	}
	msgs := r.readMessages()
	if len(msgs) != 2 {
		t.Fatalf("len(msgs) = %d, want 2", len(msgs))
	}
	for _, m := range msgs {
		if m.MsgType != msgApp || m.Index != li || m.LogTerm != 1 || m.Commit != li ||
			len(m.Entries) != 1 || string(m.Entries[0].Data) != "some data" || m.Entries[0].Index != li+1 {
			t.Fatalf("unexpected message %s", DescribeMessage(m, nil))
		}
	}
}

// commitNoopEntry makes r (a fresh leader of a 3-node cluster) commit its
// empty entry, answering its MsgApps, and persists the log.
func commitNoopEntry(t testing.TB, r *raft) {
	t.Helper()
	if r.state != StateLeader {
		t.Fatal("not leader")
	}
	r.bcastAppend()
	for _, m := range r.readMessages() {
		if m.MsgType != msgApp || len(m.Entries) != 1 || len(m.Entries[0].Data) != 0 {
			t.Fatalf("not a noop MsgApp: %s", DescribeMessage(m, nil))
		}
		_ = r.Step(acceptAndReply(m))
	}
	r.readMessages()
	persistAll(r, r.raftLog.storage.(*MemoryStorage))
	r.raftLog.appliedTo(r.raftLog.committed)
}

func acceptAndReply(m eraftpb.Message) eraftpb.Message {
	return eraftpb.Message{From: m.To, To: m.From, Term: m.Term, MsgType: msgAppResp,
		Index: m.Index + uint64(len(m.Entries))}
}

// §5.3: an entry is committed once a majority stores it; the leader then
// tells followers the new commit index.
func TestLeaderCommitEntry(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.becomeCandidate()
	r.becomeLeader()
	commitNoopEntry(t, r)
	li := r.raftLog.lastIndex()
	_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	msgs := r.readMessages()
	_ = r.Step(acceptAndReply(msgs[0]))
	if r.raftLog.committed != li+1 {
		t.Fatalf("committed = %d, want %d", r.raftLog.committed, li+1)
	}
	for _, m := range r.readMessages() {
		if m.MsgType == msgApp && m.Commit != li+1 {
			t.Fatalf("commit not propagated: %s", DescribeMessage(m, nil))
		}
	}
}

// §5.3: committing an entry commits all preceding ones, including those of
// earlier leaders.
func TestLeaderCommitPrecedingEntries(t *testing.T) {
	for i, terms := range [][]uint64{{}, {2}, {1, 2}, {1}} {
		r := nodeWithLog(t, 1, []uint64{1, 2, 3}, terms...)
		r.loadState(eraftpb.HardState{Term: 2})
		r.becomeCandidate()
		r.becomeLeader()
		_ = r.Step(eraftpb.Message{From: 1, To: 1, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
		for _, m := range r.readMessages() {
			_ = r.Step(eraftpb.Message{From: m.To, To: 1, Term: 3, MsgType: msgAppResp, Index: r.raftLog.lastIndex()})
		}
		if want := uint64(len(terms) + 2); r.raftLog.committed != want {
			t.Errorf("#%d: committed = %d, want %d", i, r.raftLog.committed, want)
		}
	}
}

// §5.3: a follower applies the leader's commit index, bounded by what it
// has.
func TestFollowerCommitEntry(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, newTestStorage(1, 2, 3))
	r.becomeFollower(1, 2)
	ents := []*eraftpb.Entry{{Term: 1, Index: 1, Data: []byte("a")}, {Term: 1, Index: 2, Data: []byte("b")}}
	_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgApp, Term: 1, Entries: ents, Commit: 5})
	if r.raftLog.committed != 2 {
		t.Fatalf("committed = %d, want 2 (capped at last new entry)", r.raftLog.committed)
	}
}

// §5.3: AppendEntries consistency check: a follower refuses entries unless
// its log has the preceding (index, term), and hints where to continue.
func TestFollowerCheckMsgApp(t *testing.T) {
	tests := []struct {
		term, index uint64
		wIndex      uint64
		wReject     bool
		wHint       uint64
		wHintTerm   uint64
	}{
		{0, 0, 1, false, 0, 0}, // match with committed entries
		{1, 1, 1, false, 0, 0},
		{2, 2, 2, false, 0, 0}, // match with uncommitted entries
		{1, 2, 2, true, 1, 1},  // unmatched term: hint at the last index with term <= 1
		{3, 3, 3, true, 2, 2},  // beyond our log: hint at our last index
	}
	for i, tt := range tests {
		r := nodeWithLog(t, 1, []uint64{1, 2, 3}, 1, 2)
		r.loadState(eraftpb.HardState{Term: 2, Commit: 1})
		r.becomeFollower(2, 2)
		_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgApp, Term: 2, LogTerm: tt.term, Index: tt.index})
		msgs := r.readMessages()
		want := eraftpb.Message{From: 1, To: 2, MsgType: msgAppResp, Term: 2, Index: tt.wIndex,
			Reject: tt.wReject, RejectHint: tt.wHint, LogTerm: tt.wHintTerm}
		if len(msgs) != 1 || !reflect.DeepEqual(msgs[0], want) {
			t.Errorf("#%d: msgs = %v, want %s", i, msgs, DescribeMessage(want, nil))
		}
	}
}

// §5.3: a follower deletes a conflicting suffix and appends the leader's
// entries.
func TestFollowerAppendEntries(t *testing.T) {
	tests := []struct {
		index, term uint64
		ents        []*eraftpb.Entry
		wents       []uint64 // terms of the resulting log
		wunstable   []uint64 // terms of the unstable suffix
	}{
		{2, 2, []*eraftpb.Entry{{Term: 3, Index: 3}}, []uint64{1, 2, 3}, []uint64{3}},
		{1, 1, []*eraftpb.Entry{{Term: 3, Index: 2}, {Term: 4, Index: 3}}, []uint64{1, 3, 4}, []uint64{3, 4}},
		{0, 0, []*eraftpb.Entry{{Term: 1, Index: 1}}, []uint64{1, 2}, nil},
		{0, 0, []*eraftpb.Entry{{Term: 3, Index: 1}}, []uint64{3}, []uint64{3}},
	}
	for i, tt := range tests {
		r := nodeWithLog(t, 1, []uint64{1, 2, 3}, 1, 2)
		r.becomeFollower(2, 2)
		_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgApp, Term: 2, LogTerm: tt.term, Index: tt.index, Entries: tt.ents})
		if got := termsOf(r.raftLog.allEntries()); !reflect.DeepEqual(got, tt.wents) {
			t.Errorf("#%d: log terms = %v, want %v", i, got, tt.wents)
		}
		if got := termsOf(r.raftLog.unstableEntries()); !reflect.DeepEqual(got, tt.wunstable) {
			t.Errorf("#%d: unstable terms = %v, want %v", i, got, tt.wunstable)
		}
	}
}

func termsOf(ents []eraftpb.Entry) []uint64 {
	var out []uint64
	for _, e := range ents {
		out = append(out, e.Term)
	}
	return out
}

// §5.3, Figure 7: whatever the follower's log looks like (missing entries,
// extra uncommitted entries, both), the leader brings it to match its own.
func TestLeaderSyncFollowerLog(t *testing.T) {
	leaderTerms := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	followers := [][]uint64{
		{1, 1, 1, 4, 4, 5, 5, 6, 6},
		{1, 1, 1, 4},
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
		{1, 1, 1, 4, 4, 4, 4},
		{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
	}
	for i, fterms := range followers {
		lead := nodeWithLog(t, 1, []uint64{1, 2, 3}, leaderTerms...)
		lead.loadState(eraftpb.HardState{Term: 8, Commit: uint64(len(leaderTerms))})
		follower := nodeWithLog(t, 2, []uint64{1, 2, 3}, fterms...)
		follower.loadState(eraftpb.HardState{Term: 7})
		// Node 3 votes for the leader and stays out of the way otherwise.
		voter := nodeWithLog(t, 3, []uint64{1, 2, 3})
		nw := newNetwork(t, []*raft{lead, follower, voter})
		// Node 3 (empty log) only votes, so the follower's log is repaired
		// by the leader alone.
		nw.msgHook = func(m eraftpb.Message) bool { return m.To != 3 || m.MsgType == msgVote }
		nw.hup(1)
		if lead.state != StateLeader {
			t.Fatalf("#%d: node 1 did not become leader", i)
		}
		nw.propose(1, "")
		if got, want := ltoa(follower.raftLog), ltoa(lead.raftLog); got != want {
			t.Errorf("#%d: follower log\n%s\nwant\n%s", i, got, want)
		}
	}
}

// §5.3 with fast backtracking: a follower with a long divergent tail is
// fixed in a couple of round trips, not one per entry.
func TestFastLogRejection(t *testing.T) {
	lead := nodeWithLog(t, 1, []uint64{1, 2, 3}, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5)
	lead.loadState(eraftpb.HardState{Term: 6})
	follower := nodeWithLog(t, 2, []uint64{1, 2, 3}, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3)
	follower.loadState(eraftpb.HardState{Term: 5})
	voter := nodeWithLog(t, 3, []uint64{1, 2, 3})
	nw := newNetwork(t, []*raft{lead, follower, voter})
	rejections := 0
	nw.msgHook = func(m eraftpb.Message) bool {
		if m.MsgType == msgAppResp && m.Reject && m.From == 2 {
			rejections++
		}
		return m.To != 3 || m.MsgType == msgVote
	}
	nw.hup(1)
	if lead.state != StateLeader {
		t.Fatal("node 1 did not become leader")
	}
	if got, want := ltoa(follower.raftLog), ltoa(lead.raftLog); got != want {
		t.Fatalf("follower log\n%s\nwant\n%s", got, want)
	}
	// Without hints this takes one rejection per divergent entry (about
	// ten); with them the leader skips a term per round trip.
	t.Logf("rejections=%d", rejections)
	if rejections > 3 {
		t.Fatalf("%d rejections, want <= 3", rejections)
	}
}

// §5.4.1: a voter denies its vote to a candidate whose log is less
// up-to-date than its own.
func TestVoter(t *testing.T) {
	tests := []struct {
		terms      []uint64
		logterm    uint64
		index      uint64
		wreject    bool
		descriptor string
	}{
		{[]uint64{1}, 1, 1, false, "same log"},
		{[]uint64{1}, 1, 2, false, "same term, longer"},
		{[]uint64{1, 1}, 1, 1, true, "same term, shorter"},
		{[]uint64{1}, 2, 1, false, "higher term"},
		{[]uint64{1, 1}, 2, 1, false, "higher term, shorter"},
		{[]uint64{2}, 1, 1, true, "lower term"},
		{[]uint64{2}, 1, 2, true, "lower term, longer"},
	}
	for _, tt := range tests {
		t.Run(tt.descriptor, func(t *testing.T) {
			r := nodeWithLog(t, 1, []uint64{1, 2}, tt.terms...)
			_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgVote, Term: 3, LogTerm: tt.logterm, Index: tt.index})
			msgs := r.readMessages()
			if len(msgs) != 1 || msgs[0].MsgType != msgVoteResp || msgs[0].Reject != tt.wreject {
				t.Fatalf("msgs = %v, want reject=%t", msgs, tt.wreject)
			}
		})
	}
}

// §5.4.2: a leader never commits an entry of an earlier term by counting
// replicas; only the entry of its own term commits it.
func TestLeaderOnlyCommitsLogFromCurrentTerm(t *testing.T) {
	tests := []struct {
		index   uint64
		wcommit uint64
	}{
		{1, 0}, // an old-term entry replicated on a majority is not committed
		{2, 0},
		{3, 3}, // the current-term entry commits everything before it
	}
	for i, tt := range tests {
		r := nodeWithLog(t, 1, []uint64{1, 2}, 1, 2)
		r.loadState(eraftpb.HardState{Term: 2})
		r.becomeCandidate()
		r.becomeLeader()
		r.readMessages()
		_ = r.Step(eraftpb.Message{From: 2, To: 1, MsgType: msgAppResp, Term: r.Term, Index: tt.index})
		if r.raftLog.committed != tt.wcommit {
			t.Errorf("#%d: committed = %d, want %d", i, r.raftLog.committed, tt.wcommit)
		}
	}
}

// §5.4.2 / Figure 8 in a network: a new leader commits earlier-term entries
// only through an entry of its own term.
func TestCannotCommitWithoutNewTermEntry(t *testing.T) {
	nw := newNetworkN(t, 5)
	nw.hup(1)
	// Node 1 replicates two entries only to node 2.
	nw.cut(1, 3)
	nw.cut(1, 4)
	nw.cut(1, 5)
	nw.propose(1, "some data")
	nw.propose(1, "some data")
	if c := nw.peers[1].raftLog.committed; c != 1 {
		t.Fatalf("committed = %d, want 1", c)
	}
	nw.recover()
	// Node 2 wins (its log is the most up to date) and must not commit the
	// old-term entries before its own empty entry replicates.
	nw.ignore(msgApp)
	nw.hup(2)
	if c := nw.peers[2].raftLog.committed; c != 1 {
		t.Fatalf("committed = %d, want 1 before the new-term entry replicates", c)
	}
	nw.recover()
	nw.send(eraftpb.Message{From: 2, To: 2, MsgType: msgBeat})
	nw.propose(2, "some data")
	if c := nw.peers[2].raftLog.committed; c != 5 {
		t.Fatalf("committed = %d, want 5", c)
	}
}

// §5.4.2 / §8: a new leader appends an empty entry of its term right away.
func TestEmptyEntryOnElection(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	ents := nw.peers[1].raftLog.allEntries()
	if len(ents) != 1 || ents[0].Term != 1 || len(ents[0].Data) != 0 || ents[0].EntryType != eraftpb.EntryType_EntryNormal {
		t.Fatalf("entries = %v, want one empty entry of term 1", ents)
	}
	for id, p := range nw.peers {
		if p.raftLog.committed != 1 {
			t.Fatalf("node %d committed %d, want 1", id, p.raftLog.committed)
		}
	}
}
