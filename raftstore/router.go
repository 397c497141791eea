package raftstore

import (
	"sync"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// msgKind says which field of a peerMsg is set.
type msgKind uint8

const (
	msgRaft        msgKind = iota + 1 // raft
	msgCommand                        // cmd
	msgRead                           // read
	msgApplied                        // applied
	msgSnapStatus                     // to, snapStatus
	msgUnreachable                    // to
	msgQuery                          // query
	msgSplitInit                      // region: re-create an uninitialized peer from a split
	msgSplitCheck                     // splitCheck
	msgOperator                       // op
	msgStaleCheck                     // region: the scheduler's view of our region
	msgWake                           // wake a hibernating peer
)

// peerMsg is one entry of a region's mailbox.
type peerMsg struct {
	kind       msgKind
	raft       *rspb.RaftMessage
	cmd        *command
	read       *readRequest
	applied    *applyResult
	to         uint64
	snapStatus raft.SnapshotStatus
	query      func(*peer)
	region     *metapb.Region
	splitCheck *splitCheckResult
	op         *pdpb.RegionHeartbeatResponse
}

// external reports whether the message counts against the mailbox bound:
// those from outside the store. Internal results are never dropped.
func (m peerMsg) external() bool {
	return m.kind == msgRaft || m.kind == msgCommand || m.kind == msgRead
}

// mailbox is a region's queue of messages.
type mailbox struct {
	mu       sync.Mutex
	msgs     []peerMsg
	external int
	closed   bool
}

// regionEntry is a region's entry in the router: its mailbox and its peer. The
// peer is touched only by the worker that holds the region.
type regionEntry struct {
	regionID uint64
	mb       mailbox
	peer     *peer
}

// router maps region IDs to mailboxes and wakes the work scheduler.
type router struct {
	mu       sync.RWMutex
	regions  map[uint64]*regionEntry
	work     *workScheduler
	capacity int
}

func newRouter(work *workScheduler, capacity int) *router {
	return &router{regions: make(map[uint64]*regionEntry), work: work, capacity: capacity}
}

func (r *router) get(regionID uint64) *regionEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.regions[regionID]
}

// register adds a region; it returns false if one is registered already.
func (r *router) register(f *regionEntry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.regions[f.regionID]; ok {
		return false
	}
	r.regions[f.regionID] = f
	return true
}

// unregister removes a region's entry and returns it.
func (r *router) unregister(regionID uint64) *regionEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.regions[regionID]
	delete(r.regions, regionID)
	return f
}

func (r *router) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.regions)
}

func (r *router) all() []*regionEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*regionEntry, 0, len(r.regions))
	for _, f := range r.regions {
		out = append(out, f)
	}
	return out
}

func (r *router) regionIDs() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]uint64, 0, len(r.regions))
	for id := range r.regions {
		out = append(out, id)
	}
	return out
}

// sendResult is what send did with a message.
type sendResult uint8

const (
	sent sendResult = iota
	noRegion
	mailboxFull
)

// send queues msg for a region and schedules it.
func (r *router) send(regionID uint64, msg peerMsg) sendResult {
	f := r.get(regionID)
	if f == nil {
		return noRegion
	}
	f.mb.mu.Lock()
	if f.mb.closed {
		f.mb.mu.Unlock()
		return noRegion
	}
	if msg.external() {
		if f.mb.external >= r.capacity {
			f.mb.mu.Unlock()
			return mailboxFull
		}
		f.mb.external++
	}
	f.mb.msgs = append(f.mb.msgs, msg)
	f.mb.mu.Unlock()
	r.work.signal(regionID, flagMsgs)
	return sent
}

// logBytes estimates what m adds to the raft log when stepped: the entries
// of a raft message, or the encoded command.
func (m *peerMsg) logBytes() int {
	switch m.kind {
	case msgRaft:
		n := 0
		for _, e := range m.raft.GetMessage().GetEntries() {
			n += len(e.Data) + 32
		}
		return n
	case msgCommand:
		return m.cmd.req.Size()
	}
	return 0
}

// takeUpTo appends the oldest messages to buf while their log bytes stay
// within budget (the first one is taken whatever its size), and reports
// whether any are left.
func (f *regionEntry) takeUpTo(buf []peerMsg, budget int) ([]peerMsg, int, bool) {
	f.mb.mu.Lock()
	defer f.mb.mu.Unlock()
	n, used := 0, 0
	for n < len(f.mb.msgs) {
		b := f.mb.msgs[n].logBytes()
		if n > 0 && used+b > budget {
			break
		}
		used += b
		n++
	}
	buf = append(buf, f.mb.msgs[:n]...)
	for _, m := range f.mb.msgs[:n] {
		if m.external() {
			f.mb.external--
		}
	}
	rest := copy(f.mb.msgs, f.mb.msgs[n:])
	clear(f.mb.msgs[rest:])
	f.mb.msgs = f.mb.msgs[:rest]
	return buf, used, rest > 0
}

// close refuses further messages and returns those left.
func (f *regionEntry) close() []peerMsg {
	f.mb.mu.Lock()
	defer f.mb.mu.Unlock()
	f.mb.closed = true
	msgs := f.mb.msgs
	f.mb.msgs = nil
	return msgs
}
