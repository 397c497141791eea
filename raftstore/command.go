package raftstore

import (
	"sync/atomic"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// Callback receives a command's response. It runs on a store goroutine and
// must not block.
type Callback func(*raft_cmdpb.RaftCmdResponse)

// command is a write or admin request waiting to be proposed.
type command struct {
	req *raft_cmdpb.RaftCmdRequest
	cb  Callback
}

// proposal is a command in the log, waiting for its entry to apply.
type proposal struct {
	index, term uint64
	proposedAt  time.Time
	cb          Callback
}

// ReadResult answers a read: a consistent kv view that reflects every write
// acknowledged before the read was issued, the region it was checked
// against, and the leader term that confirmed it. With Err set, the other
// fields are empty. The receiver must Close Snap.
type ReadResult struct {
	Snap   *engine.Snapshot
	Region *metapb.Region
	Term   uint64
	Err    *errorpb.Error
	// Stats counts what the reader reads, for the region's heartbeat.
	Stats *ReadStats
}

// ReadStats counts what is read from one region since its last heartbeat:
// keys, bytes, and requests (gets and scans). Readers record into it from
// any goroutine; the region's leader takes and resets it when it
// heartbeats.
type ReadStats struct {
	keys, bytes atomic.Uint64
	gets, scans atomic.Uint64
	store       *Store
	load        *loadSampler // the region's load-split sampler
}

// Record adds keys and bytes read. A nil ReadStats records nothing.
func (r *ReadStats) Record(keys, bytes int) {
	if r == nil {
		return
	}
	r.keys.Add(uint64(keys))
	r.bytes.Add(uint64(bytes))
	r.load.addBytes(bytes)
	if r.store != nil {
		r.store.stats.keysRead.Add(int64(keys))
		r.store.stats.bytesRead.Add(int64(bytes))
	}
}

// RecordGet counts one point read of key, found or not.
func (r *ReadStats) RecordGet(key []byte) {
	if r == nil {
		return
	}
	r.gets.Add(1)
	r.load.record(key, nil, true, 0)
	if r.store != nil {
		r.store.stats.gets.Add(1)
	}
}

// RecordScan counts one scan of [start, end) (an empty end is the region's
// end).
func (r *ReadStats) RecordScan(start, end []byte) {
	if r == nil {
		return
	}
	r.scans.Add(1)
	r.load.record(start, end, false, 0)
	if r.store != nil {
		r.store.stats.scans.Add(1)
	}
}

// pending reports whether anything was read since the last take.
func (r *ReadStats) pending() bool {
	return r.keys.Load() > 0 || r.bytes.Load() > 0 || r.gets.Load() > 0 || r.scans.Load() > 0
}

// readCounts is what take returns.
type readCounts struct{ keys, bytes, gets, scans uint64 }

// take returns the counts and resets them.
func (r *ReadStats) take() readCounts {
	return readCounts{keys: r.keys.Swap(0), bytes: r.bytes.Swap(0), gets: r.gets.Swap(0), scans: r.scans.Swap(0)}
}

// ReadCallback receives a read's result; it must not block.
type ReadCallback func(ReadResult)

// readRequest is a read waiting for its read index or for apply.
type readRequest struct {
	header *raft_cmdpb.RaftRequestHeader
	cb     ReadCallback
	index  uint64 // read index once known
	term   uint64
}

func respondErr(cb Callback, err *errorpb.Error, term uint64) {
	if cb != nil {
		cb(&raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{Error: err, CurrentTerm: term}})
	}
}
