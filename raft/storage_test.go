package raft

import (
	"errors"
	"reflect"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// newStorageWith returns a MemoryStorage holding entries 3/3, 4/4, 5/5 after
// a dummy entry at index 3 (as if compacted at 3).
func newStorageWith(t *testing.T) *MemoryStorage {
	ms := NewMemoryStorage()
	ms.ents = []eraftpb.Entry{{Index: 3, Term: 3}, {Index: 4, Term: 4}, {Index: 5, Term: 5}}
	return ms
}

func TestMemoryStorageTerm(t *testing.T) {
	ms := newStorageWith(t)
	tests := []struct {
		i     uint64
		werr  error
		wterm uint64
	}{
		{2, ErrCompacted, 0},
		{3, nil, 3},
		{4, nil, 4},
		{5, nil, 5},
		{6, ErrUnavailable, 0},
	}
	for _, tt := range tests {
		term, err := ms.Term(tt.i)
		if !errors.Is(err, tt.werr) || term != tt.wterm {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, term, err, tt.wterm, tt.werr)
		}
	}
}

func TestMemoryStorageEntries(t *testing.T) {
	ms := newStorageWith(t)
	ms.ents = append(ms.ents, eraftpb.Entry{Index: 6, Term: 6})
	size := uint64(ms.ents[1].Size())
	tests := []struct {
		lo, hi, maxsize uint64
		werr            error
		windexes        []uint64
	}{
		{2, 6, noLimit, ErrCompacted, nil},
		{3, 4, noLimit, ErrCompacted, nil},
		{4, 5, noLimit, nil, []uint64{4}},
		{4, 6, noLimit, nil, []uint64{4, 5}},
		{4, 7, noLimit, nil, []uint64{4, 5, 6}},
		{4, 7, 0, nil, []uint64{4}}, // at least one entry
		{4, 7, 2 * size, nil, []uint64{4, 5}},
		{4, 8, noLimit, ErrUnavailable, nil},
	}
	for _, tt := range tests {
		ents, err := ms.Entries(tt.lo, tt.hi, tt.maxsize)
		var idx []uint64
		for _, e := range ents {
			idx = append(idx, e.Index)
		}
		if !errors.Is(err, tt.werr) || !reflect.DeepEqual(idx, tt.windexes) {
			t.Errorf("Entries(%d,%d,%d) = %v, %v; want %v, %v", tt.lo, tt.hi, tt.maxsize, idx, err, tt.windexes, tt.werr)
		}
	}
}

func TestMemoryStorageFirstLastIndex(t *testing.T) {
	ms := newStorageWith(t)
	if fi, _ := ms.FirstIndex(); fi != 4 {
		t.Fatalf("first = %d, want 4", fi)
	}
	if li, _ := ms.LastIndex(); li != 5 {
		t.Fatalf("last = %d, want 5", li)
	}
	_ = ms.Append([]eraftpb.Entry{{Index: 6, Term: 5}})
	if li, _ := ms.LastIndex(); li != 6 {
		t.Fatalf("last = %d, want 6", li)
	}
	_ = ms.Compact(4)
	if fi, _ := ms.FirstIndex(); fi != 5 {
		t.Fatalf("first after compact = %d, want 5", fi)
	}
}

func TestMemoryStorageCompact(t *testing.T) {
	tests := []struct {
		i      uint64
		werr   error
		windex uint64
		wlen   int
	}{
		{2, ErrCompacted, 3, 3},
		{3, ErrCompacted, 3, 3},
		{4, nil, 4, 2},
		{5, nil, 5, 1},
		{6, ErrUnavailable, 3, 3},
	}
	for _, tt := range tests {
		ms := newStorageWith(t)
		err := ms.Compact(tt.i)
		if !errors.Is(err, tt.werr) || ms.ents[0].Index != tt.windex || len(ms.ents) != tt.wlen {
			t.Errorf("Compact(%d): err=%v first=%d len=%d; want %v %d %d", tt.i, err, ms.ents[0].Index, len(ms.ents), tt.werr, tt.windex, tt.wlen)
		}
	}
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	cs := &eraftpb.ConfState{Voters: []uint64{1, 2, 3}}
	ms := newStorageWith(t)
	snap, err := ms.CreateSnapshot(4, cs, []byte("data"))
	if err != nil || snap.Metadata.Index != 4 || snap.Metadata.Term != 4 || string(snap.Data) != "data" ||
		!reflect.DeepEqual(snap.Metadata.ConfState.Voters, cs.Voters) {
		t.Fatalf("CreateSnapshot(4) = %v, %v", snap, err)
	}
	if _, err := ms.CreateSnapshot(4, cs, nil); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("repeated CreateSnapshot err = %v, want ErrSnapOutOfDate", err)
	}
	if _, err := ms.CreateSnapshot(9, cs, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CreateSnapshot beyond log err = %v, want ErrUnavailable", err)
	}
	_, gotCS, _ := ms.InitialState()
	if !reflect.DeepEqual(gotCS.Voters, cs.Voters) {
		t.Fatalf("InitialState ConfState = %v", gotCS)
	}
}

func TestMemoryStorageAppend(t *testing.T) {
	tests := []struct {
		name    string
		entries []eraftpb.Entry
		wterms  []uint64 // terms of indexes 3.. after append
		werr    error
	}{
		{"same", []eraftpb.Entry{{Index: 3, Term: 3}, {Index: 4, Term: 4}, {Index: 5, Term: 5}}, []uint64{3, 4, 5}, nil},
		{"conflict at 4", []eraftpb.Entry{{Index: 3, Term: 3}, {Index: 4, Term: 6}, {Index: 5, Term: 6}}, []uint64{3, 6, 6}, nil},
		{"extend", []eraftpb.Entry{{Index: 6, Term: 5}}, []uint64{3, 4, 5, 5}, nil},
		{"truncate older and overwrite", []eraftpb.Entry{{Index: 2, Term: 3}, {Index: 3, Term: 3}, {Index: 4, Term: 5}}, []uint64{3, 5}, nil},
		{"truncate at 5", []eraftpb.Entry{{Index: 5, Term: 6}}, []uint64{3, 4, 6}, nil},
		{"gap", []eraftpb.Entry{{Index: 7, Term: 5}}, []uint64{3, 4, 5}, ErrUnavailable},
		{"all compacted", []eraftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, []uint64{3, 4, 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newStorageWith(t)
			err := ms.Append(tt.entries)
			if !errors.Is(err, tt.werr) {
				t.Fatalf("err = %v, want %v", err, tt.werr)
			}
			if got := termsOf(ms.ents); !reflect.DeepEqual(got, tt.wterms) {
				t.Fatalf("terms = %v, want %v", got, tt.wterms)
			}
		})
	}
}

// Entries handed out must not change when the log is later truncated.
func TestMemoryStorageEntriesStableAcrossTruncation(t *testing.T) {
	ms := newStorageWith(t)
	ents, _ := ms.Entries(4, 6, noLimit)
	_ = ms.Append([]eraftpb.Entry{{Index: 4, Term: 9}})
	if ents[0].Term != 4 || ents[1].Term != 5 {
		t.Fatalf("handed-out entries changed: %v", ents)
	}
}

func TestMemoryStorageApplySnapshot(t *testing.T) {
	cs := &eraftpb.ConfState{Voters: []uint64{1, 2, 3}}
	ms := NewMemoryStorage()
	snap := eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{Index: 4, Term: 4, ConfState: cs}}
	if err := ms.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if fi, _ := ms.FirstIndex(); fi != 5 {
		t.Fatalf("first = %d, want 5", fi)
	}
	if term, _ := ms.Term(4); term != 4 {
		t.Fatalf("Term(4) = %d, want 4", term)
	}
	snap.Metadata = &eraftpb.SnapshotMetadata{Index: 3, Term: 3, ConfState: cs}
	if err := ms.ApplySnapshot(snap); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("older snapshot err = %v, want ErrSnapOutOfDate", err)
	}
}
