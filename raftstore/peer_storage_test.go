package raftstore

import (
	"errors"
	"math"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// persist appends entries, records the raft state and commits it, as a
// raft worker round does.
func persist(t *testing.T, ps *peerStorage, es []eraftpb.Entry) {
	t.Helper()
	var wb engine.WriteBatch
	if err := ps.append(&wb, es); err != nil {
		t.Fatal(err)
	}
	if err := ps.writeRaftState(&wb); err != nil {
		t.Fatal(err)
	}
	if err := ps.engines.WriteRaft(&wb, true); err != nil {
		t.Fatal(err)
	}
}

// checkLog checks first and last index and the terms of [first, last].
func checkLog(t *testing.T, ps *peerStorage, first, last uint64, terms map[uint64]uint64) {
	t.Helper()
	if f, _ := ps.FirstIndex(); f != first {
		t.Fatalf("first index %d, want %d", f, first)
	}
	if l, _ := ps.LastIndex(); l != last {
		t.Fatalf("last index %d, want %d", l, last)
	}
	for i, want := range terms {
		if got, err := ps.Term(i); err != nil || got != want {
			t.Fatalf("term(%d) = %d, %v; want %d", i, got, err, want)
		}
	}
	if _, err := ps.Term(first - 2); first >= 2 && !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("term(%d) below the log: %v, want ErrCompacted", first-2, err)
	}
	if _, err := ps.Term(last + 1); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("term(%d) past the log: %v, want ErrUnavailable", last+1, err)
	}
	if first <= last {
		es, err := ps.Entries(first, last+1, math.MaxUint64)
		if err != nil || uint64(len(es)) != last-first+1 {
			t.Fatalf("entries [%d, %d]: %d, %v", first, last, len(es), err)
		}
		for _, e := range es {
			if w, ok := terms[e.Index]; ok && e.Term != w {
				t.Fatalf("entry %d has term %d, want %d", e.Index, e.Term, w)
			}
		}
	}
	if _, err := ps.Entries(first-1, last+1, math.MaxUint64); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("entries from %d: %v, want ErrCompacted", first-1, err)
	}
	if _, err := ps.Entries(first, last+2, math.MaxUint64); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("entries to %d: %v, want ErrUnavailable", last+1, err)
	}
}

// TestPeerStorageLog follows a region's log from bootstrap (index and term
// 5) through appends, a conflicting suffix, truncation and reloads from
// disk, with the entry cache on and off.
func TestPeerStorageLog(t *testing.T) {
	for _, cache := range []int{0, 1024} {
		region := testRegion("", "")
		e := testEngines(t, region)
		s := testStore(t, e)
		ps := newTestPeerStorage(t, s, region, cache)
		checkLog(t, ps, 6, 5, map[uint64]uint64{5: 5})
		if hs, cs, _ := ps.InitialState(); hs.Commit != 5 || hs.Term != 5 || len(cs.Voters) != 3 {
			t.Fatalf("initial state %v %v", hs, cs)
		}
		if ps.applied != 5 || ps.appliedT != 5 {
			t.Fatalf("applied %d term %d, want 5 5", ps.applied, ps.appliedT)
		}

		persist(t, ps, ents(6, 6, 10))
		checkLog(t, ps, 6, 10, map[uint64]uint64{5: 5, 6: 6, 10: 6})
		one := uint64(ents(6, 6, 6)[0].Size())
		if es, err := ps.Entries(6, 11, one+1); err != nil || len(es) != 1 {
			t.Fatalf("size-limited entries: %d, %v; want 1", len(es), err)
		}
		if es, err := ps.Entries(6, 11, 1); err != nil || len(es) != 1 {
			t.Fatalf("entries under a tiny limit: %d, %v; want at least one", len(es), err)
		}

		// A new leader's entries replace the suffix from 8.
		persist(t, ps, ents(7, 8, 9))
		checkLog(t, ps, 6, 9, map[uint64]uint64{7: 6, 8: 7, 9: 7})
		if _, err := readEntries(e, testRegionID, 10, 11, math.MaxUint64); err == nil {
			t.Fatal("the replaced entry 10 is still on disk")
		}
		ps = newTestPeerStorage(t, s, region, cache)
		checkLog(t, ps, 6, 9, map[uint64]uint64{6: 6, 8: 7, 9: 7})

		// Log GC to 8: the apply worker made the truncated state durable
		// first, then the raft worker deletes the entries.
		ts := rspb.RaftTruncatedState{Index: 8, Term: 7}
		var kv engine.WriteBatch
		if err := kv.SetMeta(engine.ApplyStateKey(testRegionID), &rspb.RaftApplyState{AppliedIndex: 9, TruncatedState: &ts}); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteKV(&kv, true); err != nil {
			t.Fatal(err)
		}
		var wb engine.WriteBatch
		if err := ps.compactTo(&wb, ts); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteRaft(&wb, true); err != nil {
			t.Fatal(err)
		}
		checkLog(t, ps, 9, 9, map[uint64]uint64{8: 7, 9: 7})
		if _, err := readEntries(e, testRegionID, 6, 7, math.MaxUint64); err == nil {
			t.Fatal("truncated entry 6 is still on disk")
		}
		// Compacting to an older index is a no-op.
		if err := ps.compactTo(&wb, rspb.RaftTruncatedState{Index: 7, Term: 6}); err != nil || ps.truncated.Index != 8 {
			t.Fatalf("compact backwards: %v, truncated %d", err, ps.truncated.Index)
		}
		// The commit index of the hard state stays where it was.
		ps.setHardState(eraftpb.HardState{Term: 7, Vote: 12, Commit: 9})
		persist(t, ps, nil)
		ps = newTestPeerStorage(t, s, region, cache)
		checkLog(t, ps, 9, 9, map[uint64]uint64{8: 7, 9: 7})
		if hs, _, _ := ps.InitialState(); hs.Commit != 9 || hs.Vote != 12 || hs.Term != 7 || ps.applied != 9 {
			t.Fatalf("reloaded hard state %v applied %d", hs, ps.applied)
		}
	}
}

// TestPeerStorageSnapshotRepair reloads a peer whose kv side applied a
// snapshot (applied = truncated = 20) but whose raft state was not written
// yet (a crash in between): the snapshot replaces the log.
func TestPeerStorageSnapshotRepair(t *testing.T) {
	region := testRegion("", "")
	e := testEngines(t, region)
	s := testStore(t, e)
	ps := newTestPeerStorage(t, s, region, 0)
	persist(t, ps, ents(6, 6, 10))
	var kv engine.WriteBatch
	if err := kv.SetMeta(engine.ApplyStateKey(testRegionID), &rspb.RaftApplyState{AppliedIndex: 20,
		TruncatedState: &rspb.RaftTruncatedState{Index: 20, Term: 8}}); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteKV(&kv, true); err != nil {
		t.Fatal(err)
	}
	ps = newTestPeerStorage(t, s, region, 0)
	checkLog(t, ps, 21, 20, map[uint64]uint64{20: 8})
	hs, _, _ := ps.InitialState()
	if hs.Commit != 20 || hs.Term < 8 || ps.applied != 20 || ps.appliedT != 8 {
		t.Fatalf("after repair: hard state %v, applied %d term %d", hs, ps.applied, ps.appliedT)
	}
}

// TestPeerStorageAppliedPastCommit: the raft worker does not persist a hard
// state whose only change is the commit index, so the kv DB may have applied
// past the durable commit: loading raises the commit to applied. An apply
// state past the last log index is corruption, not something to run on.
func TestPeerStorageAppliedPastCommit(t *testing.T) {
	for _, tc := range []struct {
		applied uint64
		corrupt bool
	}{{8, false}, {10, false}, {11, true}} {
		region := testRegion("", "")
		e := testEngines(t, region)
		s := testStore(t, e)
		ps := newTestPeerStorage(t, s, region, 0)
		persist(t, ps, ents(6, 6, 10)) // appended, commit still 5
		var kv engine.WriteBatch
		if err := kv.SetMeta(engine.ApplyStateKey(testRegionID), &rspb.RaftApplyState{AppliedIndex: tc.applied,
			TruncatedState: &rspb.RaftTruncatedState{Index: 5, Term: 5}}); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteKV(&kv, true); err != nil {
			t.Fatal(err)
		}
		ps, err := newPeerStorage(e, region, 0, s.snaps, s.logger)
		if tc.corrupt {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("applied %d past the last index 10: %v, want ErrCorrupt", tc.applied, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("applied %d: %v", tc.applied, err)
		}
		if hs, _, _ := ps.InitialState(); hs.Commit != tc.applied || ps.appliedT != 6 {
			t.Fatalf("applied %d: commit %d, applied term %d; want commit %d, term 6", tc.applied, hs.Commit, ps.appliedT, tc.applied)
		}
	}
}
