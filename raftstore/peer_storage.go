package raftstore

import (
	"fmt"
	"math"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// TiKV's conventions for a region created with data (bootstrap, and later
// split): its log starts at index and term 5, so that a peer created empty by
// a message (index 0) is always behind and gets a snapshot.
const (
	raftInitLogIndex = 5
	raftInitLogTerm  = 5
)

// peerStorage is a peer's raft.Storage: the log and hard state live in the
// raft DB (RaftLogKey, RaftStateKey: RaftLocalState), the apply state
// (applied index, truncated state) and region state in the kv DB.
//
// It is used only by the worker goroutine that currently owns the peer;
// the scheduler's mutex orders hand-offs between workers.
//
// Invariants: truncated.Index <= applied (log GC compacts only applied
// entries); the log holds exactly (truncated.Index, raftState.LastIndex];
// raftState.LastIndex >= truncated.Index.
type peerStorage struct {
	engines  *engine.Engines
	regionID uint64
	region   *metapb.Region

	raftState  rspb.RaftLocalState
	truncated  rspb.RaftTruncatedState
	applied    uint64 // last applied index the raft worker has heard of
	appliedT   uint64 // term of applied
	cache      entryCache
	snapshots  *snapshotGen // generation of snapshots for followers
	logger     *zap.Logger
	logSizeEst uint64 // bytes appended since the last truncation, for GC
}

// newPeerStorage loads a region's raft and apply state. A region without
// any (a peer created by a message) starts empty at index 0.
func newPeerStorage(e *engine.Engines, region *metapb.Region, cacheLimit int, gen *snapshotGen, logger *zap.Logger) (*peerStorage, error) {
	ps := &peerStorage{engines: e, regionID: region.Id, region: region, cache: entryCache{limit: cacheLimit},
		snapshots: gen, logger: logger}
	if _, err := engine.GetMeta(e.Raft, engine.RaftStateKey(region.Id), &ps.raftState); err != nil {
		return nil, err
	}
	if ps.raftState.HardState == nil {
		ps.raftState.HardState = &eraftpb.HardState{}
	}
	var as rspb.RaftApplyState
	if _, err := engine.GetMeta(e.KV, engine.ApplyStateKey(region.Id), &as); err != nil {
		return nil, err
	}
	if as.TruncatedState != nil {
		ps.truncated = *as.TruncatedState
	}
	ps.applied = as.AppliedIndex
	// A crash between the kv write of an applied snapshot and the raft
	// write of its hard state leaves the raft state behind the snapshot:
	// the snapshot replaces the log, so move the raft state up to it.
	if ps.raftState.LastIndex < ps.truncated.Index {
		ps.raftState.LastIndex = ps.truncated.Index
	}
	if hs := ps.raftState.HardState; hs.Commit < ps.truncated.Index {
		hs.Commit = ps.truncated.Index
		if hs.Term < ps.truncated.Term {
			hs.Term = ps.truncated.Term
		}
	}
	// A commit index alone is not persisted (the raft worker's step 4), so
	// the kv DB may have applied past it: applied entries were committed.
	if hs := ps.raftState.HardState; ps.applied > hs.Commit {
		if ps.applied > ps.raftState.LastIndex {
			return nil, fmt.Errorf("%w: region %d applied %d beyond the last log index %d", ErrCorrupt, region.Id, ps.applied, ps.raftState.LastIndex)
		}
		hs.Commit = ps.applied
	}
	t, err := ps.Term(ps.applied)
	if err != nil {
		return nil, fmt.Errorf("%w: region %d: term of applied index %d: %v", ErrCorrupt, region.Id, ps.applied, err)
	}
	ps.appliedT = t
	return ps, nil
}

func (ps *peerStorage) isInitialized() bool { return len(ps.region.Peers) > 0 }

// InitialState implements raft.Storage.
func (ps *peerStorage) InitialState() (eraftpb.HardState, eraftpb.ConfState, error) {
	return *ps.raftState.HardState, confStateOf(ps.region), nil
}

func confStateOf(r *metapb.Region) eraftpb.ConfState {
	var cs eraftpb.ConfState
	for _, p := range r.Peers {
		if p.Role == metapb.PeerRole_Learner {
			cs.Learners = append(cs.Learners, p.Id)
		} else {
			cs.Voters = append(cs.Voters, p.Id)
		}
	}
	return cs
}

// FirstIndex implements raft.Storage.
func (ps *peerStorage) FirstIndex() (uint64, error) { return ps.truncated.Index + 1, nil }

// LastIndex implements raft.Storage.
func (ps *peerStorage) LastIndex() (uint64, error) { return ps.raftState.LastIndex, nil }

// Term implements raft.Storage.
func (ps *peerStorage) Term(i uint64) (uint64, error) {
	if i == ps.truncated.Index {
		return ps.truncated.Term, nil
	}
	if i < ps.truncated.Index {
		return 0, raft.ErrCompacted
	}
	if i > ps.raftState.LastIndex {
		return 0, raft.ErrUnavailable
	}
	if t, ok := ps.cache.term(i); ok {
		return t, nil
	}
	ents, err := ps.Entries(i, i+1, math.MaxUint64)
	if err != nil {
		return 0, err
	}
	return ents[0].Term, nil
}

// Entries implements raft.Storage.
func (ps *peerStorage) Entries(lo, hi, maxSize uint64) ([]eraftpb.Entry, error) {
	if lo <= ps.truncated.Index {
		return nil, raft.ErrCompacted
	}
	if hi > ps.raftState.LastIndex+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) beyond last index %d", raft.ErrUnavailable, lo, hi, ps.raftState.LastIndex)
	}
	if lo >= hi {
		return nil, nil
	}
	if ents, ok := ps.cache.get(lo, hi); ok {
		return raft.LimitSize(ents, maxSize), nil
	}
	ents, err := readEntries(ps.engines, ps.regionID, lo, hi, maxSize)
	if err != nil {
		// raft panics on an unexpected storage error: that is right for
		// a log with holes, which only corruption produces.
		return nil, err
	}
	return ents, nil
}

// readEntries reads the log entries [lo, hi) of a region from the raft DB,
// stopping once maxSize bytes are read (at least one entry).
func readEntries(e *engine.Engines, regionID, lo, hi, maxSize uint64) ([]eraftpb.Entry, error) {
	var ents []eraftpb.Entry
	var size uint64
	next := lo
	err := e.ScanRaw(engine.DBRaft, engine.RaftLogPrefix(regionID), engine.RaftLogKey(regionID, lo), func(_, val []byte) (bool, error) {
		if next >= hi {
			return false, nil
		}
		var ent eraftpb.Entry
		if err := ent.Unmarshal(val); err != nil {
			return false, fmt.Errorf("%w: region %d log entry %d: %w", ErrCorrupt, regionID, next, err)
		}
		if ent.Index != next {
			return false, fmt.Errorf("%w: region %d log has entry %d where %d was expected", ErrCorrupt, regionID, ent.Index, next)
		}
		size += uint64(ent.Size())
		if len(ents) > 0 && size > maxSize {
			return false, nil
		}
		ents = append(ents, ent)
		next++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if next < hi && size <= maxSize {
		return nil, fmt.Errorf("%w: region %d log misses entry %d", ErrCorrupt, regionID, next)
	}
	return ents, nil
}

// Snapshot implements raft.Storage: the newest generated snapshot if it is
// recent enough, else ErrSnapshotTemporarilyUnavailable while one is built
// in the background.
func (ps *peerStorage) Snapshot() (eraftpb.Snapshot, error) {
	return ps.snapshots.snapshot(ps.regionID, ps.truncated.Index, ps.region.RegionEpoch)
}

// appendLocked writes newly accepted entries to wb and updates the
// in-memory last index; the caller commits wb before Advance.
func (ps *peerStorage) append(wb *engine.WriteBatch, ents []eraftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	prevLast := ps.raftState.LastIndex
	for i := range ents {
		if err := wb.SetMeta(engine.RaftLogKey(ps.regionID, ents[i].Index), &ents[i]); err != nil {
			return err
		}
		ps.logSizeEst += uint64(ents[i].Size())
	}
	last := ents[len(ents)-1].Index
	// Delete the conflicting suffix the new entries replaced.
	for i := last + 1; i <= prevLast; i++ {
		if err := wb.Delete(engine.RaftLogKey(ps.regionID, i)); err != nil {
			return err
		}
	}
	ps.raftState.LastIndex = last
	ps.cache.append(ents)
	return nil
}

// setHardState records hs (if not empty) in the raft local state.
func (ps *peerStorage) setHardState(hs eraftpb.HardState) {
	if !raft.IsEmptyHardState(hs) {
		h := hs
		ps.raftState.HardState = &h
	}
}

func (ps *peerStorage) writeRaftState(wb *engine.WriteBatch) error {
	return wb.SetMeta(engine.RaftStateKey(ps.regionID), &ps.raftState)
}

// compactTo records that the log up to idx is truncated (the kv DB holds the
// truncated state durably) and deletes those entries in wb.
func (ps *peerStorage) compactTo(wb *engine.WriteBatch, ts rspb.RaftTruncatedState) error {
	if ts.Index <= ps.truncated.Index {
		return nil
	}
	if ts.Index > ps.raftState.LastIndex {
		// A snapshot since replaced the log; nothing left to truncate.
		return nil
	}
	for i := ps.truncated.Index + 1; i <= ts.Index; i++ {
		if err := wb.Delete(engine.RaftLogKey(ps.regionID, i)); err != nil {
			return err
		}
	}
	ps.truncated = ts
	ps.cache.compactTo(ts.Index)
	ps.logSizeEst = 0
	return nil
}
