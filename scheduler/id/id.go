// Package id allocates unique IDs (store, region and peer IDs share one
// sequence) in batches: the upper end of the reserved batch is persisted
// before any ID in it is handed out, so a restarted or new leader continues
// after it and never repeats an ID.
package id

import (
	"context"
	"errors"
	"sync"
)

// ErrZeroCount is returned for an allocation of zero IDs.
var ErrZeroCount = errors.New("id: count must be positive")

// Window persists the last reserved ID.
type Window interface {
	Load(ctx context.Context) (uint64, error)
	Save(ctx context.Context, end uint64) error
}

// DefaultStep is how many IDs one persisted reservation covers.
const DefaultStep = 1000

// Allocator hands out IDs from a persisted window.
type Allocator struct {
	mu     sync.Mutex
	w      Window
	step   uint64
	loaded bool
	// Invariant (when loaded): last <= end; IDs in (last, end] are reserved
	// in etcd and not yet handed out.
	last, end uint64
}

// New returns an allocator over w reserving step IDs at a time.
func New(w Window, step uint64) *Allocator {
	if step == 0 {
		step = DefaultStep
	}
	return &Allocator{w: w, step: step}
}

// Alloc returns the first of n consecutive new IDs.
func (a *Allocator) Alloc(ctx context.Context, n uint64) (uint64, error) {
	if n == 0 {
		return 0, ErrZeroCount
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded {
		end, err := a.w.Load(ctx)
		if err != nil {
			return 0, err
		}
		a.last, a.end, a.loaded = end, end, true
	}
	if a.last+n > a.end {
		next := a.last + max(a.step, n)
		if err := a.w.Save(ctx, next); err != nil {
			return 0, err
		}
		a.end = next
	}
	first := a.last + 1
	a.last += n
	return first, nil
}

// Reset forgets the window; the next Alloc reloads it. Called when
// leadership changes, since another member may have moved it.
func (a *Allocator) Reset() {
	a.mu.Lock()
	a.loaded = false
	a.mu.Unlock()
}
