package raftstore

import "sync"

// Work flags of a region in the scheduler. Repeated wake-ups merge into the
// flags, so a region with a thousand queued messages is scheduled once
// (cockroach's raftScheduler).
const (
	flagQueued     uint8 = 1 << iota // in the queue, not yet taken
	flagProcessing                   // a worker holds the region
	flagMsgs                         // the mailbox has messages
	flagTick                         // a tick is due
	flagResume                       // a held region's snapshot is applied (lifecycle.go)

	workFlags = flagMsgs | flagTick | flagResume
)

// workScheduler hands regions with work to the raft workers. A region is
// held by at most one worker at a time: its peer needs no lock, and the
// scheduler's mutex orders one worker's writes before the next one's reads.
type workScheduler struct {
	mu      sync.Mutex
	cond    sync.Cond
	queue   []uint64
	state   map[uint64]uint8
	stopped bool
}

func newWorkScheduler() *workScheduler {
	s := &workScheduler{state: make(map[uint64]uint8)}
	s.cond.L = &s.mu
	return s
}

// signal records work for a region and queues it unless it is queued or
// being processed (then the worker requeues it when done).
func (s *workScheduler) signal(id uint64, flags uint8) {
	s.mu.Lock()
	st := s.state[id]
	if st&flags == flags && st&(flagQueued|flagProcessing) != 0 {
		s.mu.Unlock()
		return
	}
	st |= flags
	if st&(flagQueued|flagProcessing) == 0 {
		st |= flagQueued
		s.queue = append(s.queue, id)
		s.cond.Signal()
	}
	s.state[id] = st
	s.mu.Unlock()
}

// signalAll is signal for many regions under one lock.
func (s *workScheduler) signalAll(ids []uint64, flags uint8) {
	s.mu.Lock()
	for _, id := range ids {
		st := s.state[id] | flags
		if st&(flagQueued|flagProcessing) == 0 {
			st |= flagQueued
			s.queue = append(s.queue, id)
		}
		s.state[id] = st
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// next blocks until regions have work and takes up to max of them, marking
// them processing. It returns nil once stopped.
func (s *workScheduler) next(max int, ids []uint64, flags []uint8) ([]uint64, []uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == 0 && !s.stopped {
		s.cond.Wait()
	}
	if s.stopped {
		return nil, nil
	}
	n := min(max, len(s.queue))
	for _, id := range s.queue[:n] {
		st := s.state[id]
		ids = append(ids, id)
		flags = append(flags, st&workFlags)
		s.state[id] = flagProcessing
	}
	s.queue = append(s.queue[:0], s.queue[n:]...)
	return ids, flags
}

// done releases a region after a round; work that arrived meanwhile
// requeues it.
func (s *workScheduler) done(ids []uint64) {
	s.mu.Lock()
	for _, id := range ids {
		st := s.state[id] &^ flagProcessing
		if st&workFlags != 0 {
			st |= flagQueued
			s.queue = append(s.queue, id)
			s.state[id] = st
			s.cond.Signal()
			continue
		}
		delete(s.state, id)
	}
	s.mu.Unlock()
}

// resume queues a region that stays held (processing) while its snapshot
// is applied, so that a worker finishes that round (flagResume).
func (s *workScheduler) resume(id uint64) {
	s.mu.Lock()
	st := s.state[id] | flagResume | flagProcessing
	if st&flagQueued == 0 {
		st |= flagQueued
		s.queue = append(s.queue, id)
		s.cond.Signal()
	}
	s.state[id] = st
	s.mu.Unlock()
}

func (s *workScheduler) stop() {
	s.mu.Lock()
	s.stopped = true
	s.cond.Broadcast()
	s.mu.Unlock()
}
