package raftstore

import (
	"sync"

	"github.com/regionkv/regionkv/kv/engine"
)

// readFence keeps a region's readers from taking a kv view in the middle of
// an entry that the apply worker writes in several batches. A DeleteRange
// deletes chunk by chunk (one engine transaction each, execDeleteRange); a
// view taken between two chunks would show part of the entry. So while the
// apply worker is inside such an entry, the region is fenced: a read waits
// (fencedReads) and snapshot generation retries. The fence is lifted only
// once the batch that also records the entry as applied is written, so a
// view taken after it shows the whole entry, and one taken before shows
// none of it.
//
// Invariant: a view of a region's data is taken only while the region is
// not fenced, and under the fence's lock, so that entering the fence waits
// for a view being taken and every later view sees the fence.
type readFence struct {
	mu   sync.Mutex
	busy map[uint64]int
}

// enter fences a region (apply worker, before the first chunk).
func (f *readFence) enter(regionID uint64) {
	f.mu.Lock()
	if f.busy == nil {
		f.busy = make(map[uint64]int)
	}
	f.busy[regionID]++
	f.mu.Unlock()
}

// leave lifts one enter (apply worker, after the entry is written whole).
func (f *readFence) leave(regionID uint64) {
	f.mu.Lock()
	if f.busy[regionID]--; f.busy[regionID] <= 0 {
		delete(f.busy, regionID)
	}
	f.mu.Unlock()
}

// snapshot takes a kv view for a reader of regionID; ok is false while the
// region is fenced.
func (f *readFence) snapshot(e *engine.Engines, regionID uint64) (_ *engine.Snapshot, ok bool, _ error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy[regionID] > 0 {
		return nil, false, nil
	}
	snap, err := e.NewSnapshot()
	return snap, err == nil, err
}
