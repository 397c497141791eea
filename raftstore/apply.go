package raftstore

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// The apply pool applies committed entries to the kv DB. Each region is
// owned by one apply worker (region ID modulo the pool size), so its entries
// apply in log order without locks. A worker takes every task queued at
// once and applies them into one kv write batch, across entries and
// regions; each region's RaftApplyState goes into that same batch as its
// data, so after a crash the applied index never disagrees with the data.
//
// The kv DB is not synced per batch: the synced raft log replays whatever a
// power loss takes. What makes that sound is that log GC deletes entries
// only after Engines.SyncKV made their application durable (CompactLog
// below), and a snapshot's kv state is synced before its raft state.

// maxApplyBatchBytes bounds one kv write batch.
const maxApplyBatchBytes = 4 << 20

type applyTaskKind uint8

const (
	taskEntries applyTaskKind = iota + 1
	taskRegister
	taskSnapshot
	taskDestroy
)

type applyTask struct {
	kind      applyTaskKind
	regionID  uint64
	entries   []eraftpb.Entry
	proposals []*proposal
	queuedAt  time.Time // for the apply-wait metric
	// taskRegister
	region *metapb.Region
	state  rspb.RaftApplyState
	term   uint64
	// taskSnapshot
	snap *snapApply
	// taskDestroy of a peer
	destroy *destroyTask
}

// applyResult is sent back to the peer after a batch.
type applyResult struct {
	applied, appliedTerm uint64
	truncated            *rspb.RaftTruncatedState
	admins               []adminResult
	// Traffic applied in this batch, for split checks and heartbeats.
	bytesWritten, keysWritten uint64
}

// applyDelegate is the apply side of one region.
type applyDelegate struct {
	region      *metapb.Region
	state       rspb.RaftApplyState
	appliedTerm uint64
	dirty       bool
	result      *applyResult
}

type applyPool struct {
	workers []*applyWorker
	wg      sync.WaitGroup
}

func newApplyPool(s *Store, n int) *applyPool {
	ap := &applyPool{}
	for i := 0; i < n; i++ {
		w := &applyWorker{env: s, engines: s.engines, storeID: s.storeID, metrics: s.cfg.Metrics, fence: &s.fence,
			delegates: make(map[uint64]*applyDelegate), stopped: make(map[uint64]bool), logger: s.logger}
		w.cond.L = &w.mu
		ap.workers = append(ap.workers, w)
	}
	return ap
}

func (ap *applyPool) start() {
	for _, w := range ap.workers {
		ap.wg.Add(1)
		go func() { defer ap.wg.Done(); w.run() }()
	}
}

func (ap *applyPool) stop() {
	for _, w := range ap.workers {
		w.mu.Lock()
		w.closed = true
		w.cond.Broadcast()
		w.mu.Unlock()
	}
	ap.wg.Wait()
}

// schedule queues a task; it never blocks the raft worker.
func (ap *applyPool) schedule(t *applyTask) {
	if t.kind == taskEntries {
		t.queuedAt = time.Now()
	}
	w := ap.workers[t.regionID%uint64(len(ap.workers))]
	w.mu.Lock()
	w.queue = append(w.queue, t)
	w.cond.Signal()
	w.mu.Unlock()
}

// applyEnv is what an apply worker needs of its store: the kv engine's
// writes (each failing the store on an engine error, and then returning
// false), and the way back to the raft worker.
type applyEnv interface {
	writeKV(wb *engine.WriteBatch) bool
	syncKV() bool
	// engineOp runs an engine operation other than a batch write.
	engineOp(op string, f func() error) bool
	// fail stops the store after an engine error.
	fail(op string, err error)
	scanKeys(cf string, start, end []byte, limit int) (keys [][]byte, all bool, err error)
	kvBatchFull(wb *engine.WriteBatch) bool
	// applySnapshotKV writes a snapshot's data over its region's range.
	applySnapshotKV(sa *snapApply) error
	// destroyRegionData deletes a destroyed peer's state and data.
	destroyRegionData(r *metapb.Region, initialized bool) bool
	// applied hands a region's apply result to its raft worker.
	applied(regionID uint64, res *applyResult)
}

// applySnapshotKV implements applyEnv.
func (s *Store) applySnapshotKV(sa *snapApply) error { return applySnapshotKV(s, sa) }

// applied implements applyEnv.
func (s *Store) applied(regionID uint64, res *applyResult) {
	s.router.send(regionID, peerMsg{kind: msgApplied, applied: res})
}

type applyWorker struct {
	env     applyEnv
	engines *engine.Engines // reads only; writes go through env
	storeID uint64
	metrics *StoreMetrics
	fence   *readFence
	logger  *zap.Logger
	mu      sync.Mutex
	cond    sync.Cond
	queue   []*applyTask
	// closed: the pool is stopping.
	closed    bool
	delegates map[uint64]*applyDelegate
	// stopped holds the regions whose peer here a conf change removed:
	// the entries after that one are not this store's to apply (the peer is
	// being destroyed), until a new peer of the region registers.
	stopped map[uint64]bool

	wb       engine.WriteBatch
	touched  []*applyDelegate
	needSync bool
	cbs      []func()
	// proposedAt are the proposal times of the commands the batch applied,
	// for the propose-to-apply latency.
	proposedAt []time.Time
	// fenced are the regions this batch entered the read fence for.
	fenced []uint64
}

func (w *applyWorker) run() {
	var tasks []*applyTask
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		tasks = w.takeLocked(tasks[:0], len(w.queue))
		w.mu.Unlock()
		start := time.Now()
		if !w.applyBatch(tasks) {
			return // the store failed
		}
		w.metrics.ApplyDuration.Observe(time.Since(start).Seconds())
		clear(tasks)
	}
}

// takeLocked moves up to n queued tasks, oldest first, to buf.
func (w *applyWorker) takeLocked(buf []*applyTask, n int) []*applyTask {
	n = min(n, len(w.queue))
	buf = append(buf, w.queue[:n]...)
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	return buf
}

// applyBatch applies tasks into one write batch; false if the store
// failed.
func (w *applyWorker) applyBatch(tasks []*applyTask) bool {
	for _, t := range tasks {
		switch t.kind {
		case taskRegister:
			w.delegates[t.regionID] = &applyDelegate{region: t.region, state: t.state, appliedTerm: t.term}
			delete(w.stopped, t.regionID)
		case taskDestroy:
			if !w.destroyRegion(t) {
				return false
			}
		case taskSnapshot:
			if !w.flush() {
				return false
			}
			if err := w.applySnapshot(t); err != nil {
				w.env.fail("apply snapshot", err)
				return false
			}
			t.snap.done()
		case taskEntries:
			w.metrics.ApplyWait.Observe(time.Since(t.queuedAt).Seconds())
			d := w.delegates[t.regionID]
			if d == nil || w.stopped[t.regionID] {
				w.answerUnapplied(t.proposals)
				continue
			}
			if !w.applyEntries(d, t) {
				return false
			}
		}
	}
	return w.flush()
}

// flush commits the batch with the apply states of the regions it touched,
// syncs the kv DB if a log compaction needs it, answers callbacks and tells
// peers what was applied.
func (w *applyWorker) flush() bool {
	for _, d := range w.touched {
		if err := w.wb.SetMeta(engine.ApplyStateKey(d.region.Id), &d.state); err != nil {
			w.logger.Panic("encode apply state", zap.Error(err))
		}
	}
	if !w.wb.IsEmpty() {
		if !w.env.writeKV(&w.wb) {
			return false
		}
		w.wb.Reset()
	}
	if w.needSync {
		if !w.env.syncKV() {
			return false
		}
		w.needSync = false
	}
	w.metrics.observeApplied(w.proposedAt, time.Now())
	w.proposedAt = w.proposedAt[:0]
	for _, id := range w.fenced {
		w.fence.leave(id)
	}
	clear(w.fenced)
	w.fenced = w.fenced[:0]
	for _, cb := range w.cbs {
		cb()
	}
	clear(w.cbs)
	w.cbs = w.cbs[:0]
	for _, d := range w.touched {
		if d.result != nil {
			d.result.applied, d.result.appliedTerm = d.state.AppliedIndex, d.appliedTerm
			w.env.applied(d.region.Id, d.result)
			d.result = nil
		}
		d.dirty = false
	}
	clear(w.touched)
	w.touched = w.touched[:0]
	return true
}

func (w *applyWorker) touch(d *applyDelegate) {
	if !d.dirty {
		d.dirty = true
		w.touched = append(w.touched, d)
	}
	if d.result == nil {
		d.result = &applyResult{}
	}
}

// applyEntries applies one task's committed entries in order and matches
// them with their proposals.
func (w *applyWorker) applyEntries(d *applyDelegate, t *applyTask) bool {
	props := t.proposals
	for i := range t.entries {
		e := &t.entries[i]
		if e.Index <= d.state.AppliedIndex {
			continue // replayed after a snapshot or restart
		}
		w.touch(d)
		var resp *raft_cmdpb.RaftCmdResponse
		switch e.EntryType {
		case eraftpb.EntryType_EntryNormal:
			if len(e.Data) > 0 {
				var ok bool
				if resp, ok = w.execEntry(d, e); !ok {
					return false
				}
				w.touch(d) // execEntry may have flushed
			}
		case eraftpb.EntryType_EntryConfChange:
			resp = w.execConfChange(d, e)
		}
		if w.stopped[d.region.Id] {
			// Our peer was removed by this entry: apply nothing after it.
			d.state.AppliedIndex, d.appliedTerm = e.Index, e.Term
			w.answerUnapplied(w.answerProposals(props, e, resp))
			return true
		}
		d.state.AppliedIndex, d.appliedTerm = e.Index, e.Term
		props = w.answerProposals(props, e, resp)
		if w.env.kvBatchFull(&w.wb) && !w.flush() {
			return false
		}
	}
	w.answerUnapplied(props)
	return true
}

// answerProposals answers the proposals at or before entry e, just applied
// with response resp, and returns the rest.
func (w *applyWorker) answerProposals(props []*proposal, e *eraftpb.Entry, resp *raft_cmdpb.RaftCmdResponse) []*proposal {
	for len(props) > 0 && props[0].index <= e.Index {
		pr := props[0]
		props = props[1:]
		cb := pr.cb
		switch {
		case pr.index == e.Index && pr.term == e.Term && resp != nil:
			w.proposedAt = append(w.proposedAt, pr.proposedAt)
			r := resp
			r.Header.CurrentTerm = e.Term
			if cb != nil {
				w.cbs = append(w.cbs, func() { cb(r) })
			}
		case pr.index == e.Index && pr.term != e.Term:
			// Another leader's entry took the index: ours never commits.
			w.cbs = append(w.cbs, func() { respondErr(cb, errStaleCommand(), e.Term) })
		default:
			// The proposal's entry was not seen here (applied before, or
			// skipped): it may have committed. StaleCommand would be
			// retried by clients and could apply the write twice.
			w.cbs = append(w.cbs, func() { respondErr(cb, errUndetermined("proposal's entry was not seen by apply"), e.Term) })
		}
	}
	return props
}

// answerUnapplied answers proposals whose entries this worker will not
// apply here: their fate is unknown.
func (w *applyWorker) answerUnapplied(props []*proposal) {
	for _, pr := range props {
		cb := pr.cb
		w.cbs = append(w.cbs, func() { respondErr(cb, errUndetermined("proposal's entry was not applied here"), 0) })
	}
}
