package raft

import (
	"reflect"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func newTestLog(terms ...uint64) *raftLog {
	s := NewMemoryStorage()
	_ = s.Append(entsWithTerms(terms...))
	return newLog(s, DiscardLogger{}, noLimit)
}

func TestFindConflict(t *testing.T) {
	tests := []struct {
		ents      []eraftpb.Entry
		wconflict uint64
	}{
		{nil, 0},
		{[]eraftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}, {Index: 3, Term: 3}}, 0},
		{[]eraftpb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 3}, {Index: 4, Term: 4}}, 4},
		{[]eraftpb.Entry{{Index: 1, Term: 4}, {Index: 2, Term: 4}}, 1},
		{[]eraftpb.Entry{{Index: 3, Term: 1}}, 3},
	}
	for i, tt := range tests {
		l := newTestLog(1, 2, 3)
		if got := l.findConflict(tt.ents); got != tt.wconflict {
			t.Errorf("#%d: conflict = %d, want %d", i, got, tt.wconflict)
		}
	}
}

func TestFindConflictByTerm(t *testing.T) {
	l := newTestLog(1, 1, 2, 2, 4, 4, 4)
	tests := []struct {
		index, term   uint64
		windex, wterm uint64
	}{
		{7, 4, 7, 4},
		{7, 3, 4, 2}, // skips the whole term-4 run
		{7, 1, 2, 1},
		{7, 0, 0, 0},
		{3, 5, 3, 2},
	}
	for _, tt := range tests {
		i, term := l.findConflictByTerm(tt.index, tt.term)
		if i != tt.windex || term != tt.wterm {
			t.Errorf("findConflictByTerm(%d, %d) = %d, %d; want %d, %d", tt.index, tt.term, i, term, tt.windex, tt.wterm)
		}
	}
}

func TestMaybeAppend(t *testing.T) {
	tests := []struct {
		index, logTerm, commit uint64
		ents                   []eraftpb.Entry
		wlast                  uint64
		wok                    bool
		wcommit                uint64
		wterms                 []uint64
	}{
		{3, 2, 3, nil, 0, false, 1, []uint64{1, 2, 3}},                                                      // term mismatch
		{4, 3, 3, nil, 0, false, 1, []uint64{1, 2, 3}},                                                      // index too high
		{3, 3, 3, nil, 3, true, 3, []uint64{1, 2, 3}},                                                       // heartbeat-like
		{3, 3, 9, []eraftpb.Entry{{Index: 4, Term: 4}}, 4, true, 4, []uint64{1, 2, 3, 4}},                   // commit capped at last new
		{1, 1, 2, []eraftpb.Entry{{Index: 2, Term: 4}}, 2, true, 2, []uint64{1, 4}},                         // truncate conflict
		{2, 2, 2, []eraftpb.Entry{{Index: 3, Term: 3}}, 3, true, 2, []uint64{1, 2, 3}},                      // duplicate, no truncation
		{0, 0, 1, []eraftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, 2, true, 1, []uint64{1, 2, 3}}, // stale duplicate keeps suffix
	}
	for i, tt := range tests {
		l := newTestLog(1, 2, 3)
		l.commitTo(1)
		last, ok := l.maybeAppend(tt.index, tt.logTerm, tt.commit, tt.ents)
		if last != tt.wlast || ok != tt.wok || l.committed != tt.wcommit {
			t.Errorf("#%d: last=%d ok=%t commit=%d; want %d %t %d", i, last, ok, l.committed, tt.wlast, tt.wok, tt.wcommit)
		}
		if got := termsOf(l.allEntries()); !reflect.DeepEqual(got, tt.wterms) {
			t.Errorf("#%d: terms = %v, want %v", i, got, tt.wterms)
		}
	}
}

// Truncating a committed entry is a broken invariant and panics.
func TestMaybeAppendPanicsOnCommittedConflict(t *testing.T) {
	l := newTestLog(1, 2, 3)
	l.commitTo(3)
	defer func() {
		if recover() == nil {
			t.Fatal("expected panic")
		}
	}()
	l.maybeAppend(1, 1, 3, []eraftpb.Entry{{Index: 2, Term: 5}})
}

func TestCommitToNeverMovesBack(t *testing.T) {
	l := newTestLog(1, 2, 3)
	l.commitTo(3)
	l.commitTo(2)
	if l.committed != 3 {
		t.Fatalf("committed = %d, want 3", l.committed)
	}
}

func TestIsUpToDate(t *testing.T) {
	l := newTestLog(1, 2, 3)
	tests := []struct {
		lasti, term uint64
		w           bool
	}{
		{2, 4, true}, {3, 4, true}, {4, 4, true},
		{2, 2, false}, {3, 2, false}, {4, 2, false},
		{2, 3, false}, {3, 3, true}, {4, 3, true},
	}
	for _, tt := range tests {
		if got := l.isUpToDate(tt.lasti, tt.term); got != tt.w {
			t.Errorf("isUpToDate(%d, %d) = %t, want %t", tt.lasti, tt.term, got, tt.w)
		}
	}
}

// nextEnts returns (applied, committed] and respects the size budget.
func TestNextEnts(t *testing.T) {
	l := newTestLog(1, 1, 1, 1)
	l.append(eraftpb.Entry{Index: 5, Term: 1})
	l.commitTo(5)
	l.appliedTo(2)
	if got := l.nextEnts(); len(got) != 3 || got[0].Index != 3 {
		t.Fatalf("nextEnts = %v", got)
	}
	l.maxNextEntsSize = 1
	if got := l.nextEnts(); len(got) != 1 {
		t.Fatalf("nextEnts with 1-byte budget = %v, want one entry", got)
	}
}

func TestUnstableStableTo(t *testing.T) {
	l := newTestLog()
	l.append(entsWithTerms(1, 1, 2)...)
	l.stableTo(2, 1)
	if len(l.unstableEntries()) != 1 || l.unstable.offset != 3 {
		t.Fatalf("unstable = %v offset %d", l.unstableEntries(), l.unstable.offset)
	}
	// A term mismatch (entries replaced meanwhile) marks nothing.
	l.stableTo(3, 9)
	if len(l.unstableEntries()) != 1 {
		t.Fatal("stableTo with wrong term stabilized entries")
	}
}

func TestTermOutOfBounds(t *testing.T) {
	s := NewMemoryStorage()
	_ = s.ApplySnapshot(eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{Index: 5, Term: 2, ConfState: &eraftpb.ConfState{}}})
	l := newLog(s, DiscardLogger{}, noLimit)
	l.append(eraftpb.Entry{Index: 6, Term: 3})
	if term, err := l.term(5); err != nil || term != 2 {
		t.Fatalf("term(5) = %d, %v", term, err)
	}
	if _, err := l.term(4); err != ErrCompacted {
		t.Fatalf("term(4) err = %v, want ErrCompacted", err)
	}
	if _, err := l.term(7); err != ErrUnavailable {
		t.Fatalf("term(7) err = %v, want ErrUnavailable", err)
	}
	if _, err := l.slice(4, 6, noLimit); err != ErrCompacted {
		t.Fatalf("slice(4,6) err = %v, want ErrCompacted", err)
	}
}
