package raftstore

import (
	"sync"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
)

// raftWriter is the queue between the raft workers and the goroutine that
// persists their rounds (runRaftWriter; see batch.go for the whole round).
// Workers never block on it: submit only queues.
type raftWriter struct {
	mu      sync.Mutex
	cond    sync.Cond
	queue   []*round
	workers int      // raft workers still running
	free    []*round // finished rounds, for reuse

	merged engine.WriteBatch // the writer's batch when rounds are merged
}

func newRaftWriter(workers int) *raftWriter {
	w := &raftWriter{workers: workers}
	w.cond.L = &w.mu
	return w
}

// newRound returns an empty round, reusing a finished one when it can.
func (w *raftWriter) newRound() *round {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.free); n > 0 {
		r := w.free[n-1]
		w.free = w.free[:n-1]
		return r
	}
	return &round{}
}

// freeRound takes back a finished round.
func (w *raftWriter) freeRound(r *round) {
	w.mu.Lock()
	w.free = append(w.free, r)
	w.mu.Unlock()
}

// submit queues a stepped round whose batch must be written.
func (w *raftWriter) submit(r *round) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	w.cond.Signal()
	w.mu.Unlock()
}

// workerExited records that a raft worker stopped: once none runs and the
// queue is empty, the writer stops too.
func (w *raftWriter) workerExited() {
	w.mu.Lock()
	w.workers--
	w.cond.Signal()
	w.mu.Unlock()
}

// take waits for queued rounds and takes them all; nil once every worker
// stopped and nothing is left.
func (w *raftWriter) take(into []*round) []*round {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) == 0 && w.workers > 0 {
		w.cond.Wait()
	}
	if len(w.queue) == 0 {
		return nil
	}
	into = append(into, w.queue...)
	clear(w.queue)
	w.queue = w.queue[:0]
	return into
}

// runRaftWriter persists queued rounds, as few writes as badger allows,
// then finishes them in the order they were queued. After a failure it
// drops what it takes, without writing or sending anything, until the
// workers are gone.
func (s *Store) runRaftWriter() {
	var rounds []*round
	for {
		rounds = s.writer.take(rounds[:0])
		if rounds == nil {
			return
		}
		// After a failure nothing is written or finished: a later round
		// could depend on a state the failed write did not persist.
		if s.writeRounds(rounds) {
			for _, r := range rounds {
				s.finishRound(r)
			}
		}
		clear(rounds)
	}
}

// writeRounds commits the rounds' batches: merged into one write while they
// fit in one badger transaction, and the raft DB syncs every write. False
// if the store crashed.
func (s *Store) writeRounds(rounds []*round) bool {
	limit := s.engines.BatchLimit(engine.DBRaft)
	for i := 0; i < len(rounds); {
		wb := &rounds[i].wb
		sync := rounds[i].sync
		j := i + 1
		if j < len(rounds) && limit.Fits(wb, &rounds[j].wb) {
			m := &s.writer.merged
			m.Reset()
			m.Append(wb)
			for ; j < len(rounds) && limit.Fits(m, &rounds[j].wb); j++ {
				m.Append(&rounds[j].wb)
				sync = sync || rounds[j].sync
			}
			wb = m
		}
		start := time.Now()
		if !s.writeRaft(wb, sync) {
			return false
		}
		s.metrics.raftWrites.Add(1)
		s.cfg.Metrics.observeRaftWrite(start, true)
		i = j
	}
	return true
}
