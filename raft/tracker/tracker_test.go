package tracker

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func TestInflightsWindow(t *testing.T) {
	in := NewInflights(4)
	for i := uint64(1); i <= 4; i++ {
		in.Add(i * 10)
	}
	if !in.Full() || in.Count() != 4 {
		t.Fatalf("count %d full %t", in.Count(), in.Full())
	}
	in.FreeLE(25) // frees 10, 20
	if in.Count() != 2 || in.Full() {
		t.Fatalf("after FreeLE(25): count %d", in.Count())
	}
	in.Add(50)
	in.Add(60) // wraps around the ring
	in.FreeLE(5)
	if in.Count() != 4 {
		t.Fatalf("FreeLE below window freed something: %d", in.Count())
	}
	in.FreeFirstOne()
	if in.Count() != 3 || in.buffer[in.start] != 40 {
		t.Fatalf("FreeFirstOne: count %d first %d", in.Count(), in.buffer[in.start])
	}
	in.FreeLE(100)
	if in.Count() != 0 {
		t.Fatalf("FreeLE(100): count %d", in.Count())
	}
}

// The ring agrees with a plain slice under random operations.
func TestInflightsMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	in := NewInflights(8)
	var model []uint64
	next := uint64(1)
	for i := 0; i < 10000; i++ {
		if rng.IntN(2) == 0 && !in.Full() {
			in.Add(next)
			model = append(model, next)
			next += uint64(rng.IntN(3) + 1)
		} else {
			to := next - uint64(rng.IntN(5))
			in.FreeLE(to)
			for len(model) > 0 && model[0] <= to {
				model = model[1:]
			}
		}
		if in.Count() != len(model) || in.Full() != (len(model) == 8) {
			t.Fatalf("step %d: count %d model %v", i, in.Count(), model)
		}
	}
}

func newTracker(matches map[uint64]uint64) ProgressTracker {
	t := MakeProgressTracker(10)
	var ids []uint64
	for id := range matches {
		ids = append(ids, id)
	}
	t.SetVoters(ids, func(id uint64) *Progress {
		return &Progress{Match: matches[id], Next: matches[id] + 1, Inflights: NewInflights(10)}
	})
	return t
}

// Committed agrees with a dumb definition: the largest index matched by a
// majority.
func TestCommittedMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 2000; i++ {
		n := rng.IntN(9) + 1
		matches := map[uint64]uint64{}
		for id := 1; id <= n; id++ {
			matches[uint64(id)] = uint64(rng.IntN(20))
		}
		tr := newTracker(matches)
		var want uint64
		for idx := uint64(0); idx < 20; idx++ {
			c := 0
			for _, m := range matches {
				if m >= idx {
					c++
				}
			}
			if c > n/2 {
				want = idx
			}
		}
		if got := tr.Committed(); got != want {
			t.Fatalf("matches %v: committed %d, want %d", matches, got, want)
		}
	}
}

func TestVoteResult(t *testing.T) {
	tr := newTracker(map[uint64]uint64{1: 0, 2: 0, 3: 0})
	tests := []struct {
		votes map[uint64]bool
		want  VoteResult
	}{
		{map[uint64]bool{}, VotePending},
		{map[uint64]bool{1: true}, VotePending},
		{map[uint64]bool{1: true, 2: true}, VoteWon},
		{map[uint64]bool{1: true, 2: false}, VotePending},
		{map[uint64]bool{1: false, 2: false}, VoteLost},
		{map[uint64]bool{1: true, 9: true}, VotePending}, // non-voters do not count
	}
	for _, tt := range tests {
		if got := tr.VoteResult(tt.votes); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.votes, got, tt.want)
		}
	}
}

func TestApplyConfChange(t *testing.T) {
	tr := newTracker(map[uint64]uint64{1: 0, 2: 0, 3: 0})
	add := eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddNode, NodeId: 4}
	voters, learners, err := tr.ApplyConfChange(add)
	if err != nil || !slices.Equal(voters, []uint64{1, 2, 3, 4}) || len(learners) != 0 {
		t.Fatalf("add: %v %v %v", voters, learners, err)
	}
	if !slices.Equal(tr.Voters(), []uint64{1, 2, 3}) {
		t.Fatal("ApplyConfChange modified the tracker")
	}
	rm := eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 2}
	if voters, _, _ = tr.ApplyConfChange(rm); !slices.Equal(voters, []uint64{1, 3}) {
		t.Fatalf("remove: %v", voters)
	}
	single := newTracker(map[uint64]uint64{1: 0})
	if _, _, err := single.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 1}); err == nil {
		t.Fatal("removing the last voter should fail")
	}

	// Learners: add, promote (keeping the learner's progress), remove; a
	// voter is never demoted.
	learner := eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddLearnerNode, NodeId: 5}
	voters, learners, err = tr.ApplyConfChange(learner)
	if err != nil || !slices.Equal(voters, []uint64{1, 2, 3}) || !slices.Equal(learners, []uint64{5}) {
		t.Fatalf("add learner: %v %v %v", voters, learners, err)
	}
	tr.SetConfig(voters, learners, func(uint64) *Progress { return &Progress{Match: 7, Inflights: NewInflights(4)} })
	if !tr.IsLearner(5) || tr.IsVoter(5) || !tr.Progress[5].IsLearner || tr.Progress[1].IsLearner {
		t.Fatalf("after adding learner 5: %s", tr.String())
	}
	var visited []uint64
	tr.Visit(func(id uint64, _ *Progress) { visited = append(visited, id) })
	if !slices.Equal(visited, []uint64{1, 2, 3, 5}) {
		t.Fatalf("Visit = %v, want voters and learners in order", visited)
	}
	if _, _, err := tr.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddLearnerNode, NodeId: 2}); err == nil {
		t.Fatal("demoting voter 2 to learner should fail")
	}
	voters, learners, err = tr.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddNode, NodeId: 5})
	if err != nil || !slices.Equal(voters, []uint64{1, 2, 3, 5}) || len(learners) != 0 {
		t.Fatalf("promote: %v %v %v", voters, learners, err)
	}
	pr := tr.Progress[5]
	tr.SetConfig(voters, learners, func(uint64) *Progress { t.Fatal("a promoted learner got a new Progress"); return nil })
	if tr.Progress[5] != pr || pr.IsLearner || pr.Match != 7 {
		t.Fatalf("promoted learner's progress: %v", tr.Progress[5])
	}
	if _, _, err := tr.ApplyConfChange(learner); err == nil {
		t.Fatal("demoting the promoted learner 5 back to learner should fail")
	}
	tr.SetConfig([]uint64{1, 2, 3}, []uint64{5}, func(uint64) *Progress { return &Progress{Inflights: NewInflights(4)} })
	voters, learners, _ = tr.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 5})
	if !slices.Equal(voters, []uint64{1, 2, 3}) || len(learners) != 0 {
		t.Fatalf("remove learner: %v %v", voters, learners)
	}
}

// TestLearnersDoNotCount: a learner's match index, activity and vote count
// in no quorum.
func TestLearnersDoNotCount(t *testing.T) {
	tr := MakeProgressTracker(4)
	tr.SetConfig([]uint64{1, 2, 3}, []uint64{4, 5}, func(uint64) *Progress { return &Progress{Inflights: NewInflights(4)} })
	tr.Progress[1].Match, tr.Progress[4].Match, tr.Progress[5].Match = 10, 10, 10
	if c := tr.Committed(); c != 0 {
		t.Fatalf("committed %d with one voter and two learners at 10", c)
	}
	tr.Progress[2].Match = 10
	if c := tr.Committed(); c != 10 {
		t.Fatalf("committed %d with two voters at 10", c)
	}
	for _, id := range []uint64{1, 2, 3, 4, 5} {
		tr.Progress[id].RecentActive = id == 1 || id >= 4
	}
	if tr.QuorumActive() {
		t.Fatal("quorum active with one voter and two learners")
	}
	if r := tr.VoteResult(map[uint64]bool{1: true, 4: true, 5: true}); r != VotePending {
		t.Fatalf("one voter's and two learners' grants: %s", r)
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		state          StateType
		match, next    uint64
		rejected, hint uint64
		w              bool
		wn             uint64
	}{
		{StateReplicate, 5, 10, 5, 5, false, 10}, // stale
		{StateReplicate, 5, 10, 4, 4, false, 10}, // stale
		{StateReplicate, 5, 10, 9, 9, true, 6},   // back to match+1
		{StateProbe, 0, 0, 0, 0, false, 0},       // next-1 != rejected
		{StateProbe, 0, 10, 5, 5, false, 10},     // stale probe answer
		{StateProbe, 0, 10, 9, 9, true, 9},
		{StateProbe, 0, 10, 9, 2, true, 3}, // hint jumps back
		{StateProbe, 5, 10, 9, 2, true, 6}, // never below match+1
		{StateProbe, 0, 2, 1, 0, true, 1},  // never below 1
	}
	for i, tt := range tests {
		p := &Progress{State: tt.state, Match: tt.match, Next: tt.next, Inflights: NewInflights(10)}
		if g := p.MaybeDecrTo(tt.rejected, tt.hint); g != tt.w || p.Next != tt.wn {
			t.Errorf("#%d: %t next %d, want %t next %d", i, g, p.Next, tt.w, tt.wn)
		}
	}
}

func TestProgressPaused(t *testing.T) {
	p := &Progress{State: StateProbe, Next: 1, Inflights: NewInflights(1)}
	if p.IsPaused() {
		t.Fatal("fresh probe paused")
	}
	p.SentEntries(1, 1)
	if !p.IsPaused() {
		t.Fatal("probe not paused after sending")
	}
	p.BecomeReplicate()
	p.SentEntries(1, 1)
	if !p.IsPaused() || p.Next != 2 {
		t.Fatalf("replicate with full window: paused %t next %d", p.IsPaused(), p.Next)
	}
	p.BecomeSnapshot(10)
	if !p.IsPaused() || p.PendingSnapshot != 10 {
		t.Fatal("snapshot state must pause")
	}
	p.BecomeProbe()
	if p.Next != 11 || p.State != StateProbe {
		t.Fatalf("probe after snapshot: next %d", p.Next)
	}
}
