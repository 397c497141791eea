package server

import (
	"bytes"
	"context"
	"sync"
)

// latches serialize the writes of overlapping keys, so that
// RawCompareAndSwap's read and write are atomic with respect to every other
// write of its key, and so that a write whose outcome is unknown is not
// overtaken by a later write of the same keys.
//
// A request latches what it writes: keys (put, delete, compare-and-swap) or
// one key range (delete-range). Two requests wait for each other only when
// what they latch overlaps, so a write stuck on one region (its proposal
// waiting for a quorum that is gone) holds up the writes of its own keys and
// nothing else, whatever other ranges are deleted meanwhile.
//
// Waiting is first come, first served among overlapping requests: a request
// waits for every holder and every earlier waiter it overlaps, so a range
// deletion is not starved by a stream of point writes into its range. It
// ends when the request's context does (the caller answers that nothing was
// written).
//
// The table is small: the latches held (one per request in flight) and the
// requests waiting. Points are found by key; ranges are few and scanned.
type latches struct {
	mu     sync.Mutex
	points map[string]*latchReq // a key to the request holding it
	ranges []*latchReq          // held requests that latch a range
	queue  []*latchReq          // waiting requests, in arrival order
}

// span is what a request latches: a key, or the range [start, end) (an
// empty end is +infinity).
type span struct {
	start, end []byte
	point      bool
}

func pointSpan(key []byte) span        { return span{start: key, point: true} }
func rangeSpan(start, end []byte) span { return span{start: start, end: end} }

// contains reports whether key is in s.
func (s span) contains(key []byte) bool {
	if s.point {
		return bytes.Equal(s.start, key)
	}
	return bytes.Compare(key, s.start) >= 0 && (len(s.end) == 0 || bytes.Compare(key, s.end) < 0)
}

// overlaps reports whether a and b share a key.
func (a span) overlaps(b span) bool {
	switch {
	case a.point:
		return b.contains(a.start)
	case b.point:
		return a.contains(b.start)
	}
	// [as, ae) and [bs, be) overlap iff as < be and bs < ae.
	before := func(s, e []byte) bool { return len(e) == 0 || bytes.Compare(s, e) < 0 }
	return before(a.start, b.end) && before(b.start, a.end)
}

// latchReq is one request's latches.
type latchReq struct {
	spans   []span
	granted chan struct{} // for a waiter: closed once it holds its latches
	held    bool          // under latches.mu
}

func (r *latchReq) overlaps(o *latchReq) bool {
	for _, a := range r.spans {
		for _, b := range o.spans {
			if a.overlaps(b) {
				return true
			}
		}
	}
	return false
}

func newLatches() *latches {
	return &latches{points: map[string]*latchReq{}}
}

// acquire waits until no holder and no earlier waiter overlaps spans, then
// holds them. It returns the function that releases them, or ctx's error
// if ctx ends first (then nothing is held).
func (l *latches) acquire(ctx context.Context, spans ...span) (release func(), err error) {
	r := &latchReq{spans: spans}
	l.mu.Lock()
	if !l.blockedLocked(r, len(l.queue)) {
		l.holdLocked(r)
		l.mu.Unlock()
		return func() { l.release(r) }, nil
	}
	r.granted = make(chan struct{})
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	select {
	case <-r.granted:
		return func() { l.release(r) }, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if r.held {
		// Granted just as ctx ended: give it back.
		l.releaseLocked(r)
	} else {
		for i, q := range l.queue {
			if q == r {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
		// Requests queued behind r only for fairness may go now.
		l.grantLocked()
	}
	l.mu.Unlock()
	return nil, ctx.Err()
}

// blockedLocked reports whether r overlaps a holder or one of the first
// ahead waiters.
func (l *latches) blockedLocked(r *latchReq, ahead int) bool {
	for _, s := range r.spans {
		if s.point {
			if _, ok := l.points[string(s.start)]; ok {
				return true
			}
		} else {
			for k := range l.points {
				if s.contains([]byte(k)) {
					return true
				}
			}
		}
		for _, h := range l.ranges {
			for _, hs := range h.spans {
				if hs.overlaps(s) {
					return true
				}
			}
		}
	}
	for _, q := range l.queue[:ahead] {
		if r.overlaps(q) {
			return true
		}
	}
	return false
}

func (l *latches) holdLocked(r *latchReq) {
	r.held = true
	isRange := false
	for _, s := range r.spans {
		if s.point {
			l.points[string(s.start)] = r
		} else {
			isRange = true
		}
	}
	if isRange {
		l.ranges = append(l.ranges, r)
	}
}

func (l *latches) release(r *latchReq) {
	l.mu.Lock()
	l.releaseLocked(r)
	l.mu.Unlock()
}

func (l *latches) releaseLocked(r *latchReq) {
	if !r.held {
		return
	}
	r.held = false
	for _, s := range r.spans {
		if s.point && l.points[string(s.start)] == r {
			delete(l.points, string(s.start))
		}
	}
	for i, h := range l.ranges {
		if h == r {
			l.ranges = append(l.ranges[:i], l.ranges[i+1:]...)
			break
		}
	}
	l.grantLocked()
}

// grantLocked hands the latches to every waiter, in order, that no holder
// and no earlier waiter blocks.
func (l *latches) grantLocked() {
	for i := 0; i < len(l.queue); {
		r := l.queue[i]
		if l.blockedLocked(r, i) {
			i++
			continue
		}
		l.queue = append(l.queue[:i], l.queue[i+1:]...)
		l.holdLocked(r)
		close(r.granted)
	}
}

// held counts the requests holding latches and those waiting (tests).
func (l *latches) counts() (held, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[*latchReq]bool{}
	for _, r := range l.points {
		seen[r] = true
	}
	for _, r := range l.ranges {
		seen[r] = true
	}
	return len(seen), len(l.queue)
}
