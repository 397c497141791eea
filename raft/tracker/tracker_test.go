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
	voters, err := tr.ApplyConfChange(add)
	if err != nil || !slices.Equal(voters, []uint64{1, 2, 3, 4}) {
		t.Fatalf("add: %v %v", voters, err)
	}
	if !slices.Equal(tr.Voters(), []uint64{1, 2, 3}) {
		t.Fatal("ApplyConfChange modified the tracker")
	}
	rm := eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 2}
	if voters, _ = tr.ApplyConfChange(rm); !slices.Equal(voters, []uint64{1, 3}) {
		t.Fatalf("remove: %v", voters)
	}
	single := newTracker(map[uint64]uint64{1: 0})
	if _, err := single.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: 1}); err == nil {
		t.Fatal("removing the last voter should fail")
	}
	if _, err := tr.ApplyConfChange(eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddLearnerNode, NodeId: 5}); err == nil {
		t.Fatal("learners are unsupported")
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
