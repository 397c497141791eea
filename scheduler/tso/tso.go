// Package tso is the timestamp oracle: timestamps are physical milliseconds
// plus an 18-bit logical counter. The oracle never hands out a physical time
// at or past the upper bound persisted in etcd, and a new leader starts after
// the bound its predecessor saved, so timestamps strictly increase across
// restarts and leader changes.
package tso

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// Sentinel errors.
var (
	ErrNotSynced = errors.New("tso: not synced (not leader yet)")
	ErrBadCount  = errors.New("tso: count must be in [1, 2^18)")
)

// LogicalBits is the width of the logical counter.
const LogicalBits = 18

const maxLogical = int64(1) << LogicalBits

// Window persists the reserved physical upper bound in unix milliseconds.
type Window interface {
	Load(ctx context.Context) (uint64, error)
	Save(ctx context.Context, bound uint64) error
}

// Oracle allocates timestamps. It is used by the leader only.
type Oracle struct {
	w            Window
	saveInterval int64 // ms
	now          func() time.Time

	mu     sync.Mutex
	synced bool
	// Invariants (when synced): physical < saved; every timestamp handed
	// out is < (physical, logical+1).
	physical, logical int64
	saved             int64
}

// New returns an oracle over w that reserves saveInterval ahead of use.
func New(w Window, saveInterval time.Duration, now func() time.Time) *Oracle {
	if now == nil {
		now = time.Now
	}
	return &Oracle{w: w, saveInterval: max(saveInterval.Milliseconds(), 1), now: now}
}

// Sync starts the oracle after the last saved bound. Call it when becoming
// leader.
func (o *Oracle) Sync(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	last, err := o.w.Load(ctx)
	if err != nil {
		return err
	}
	p := max(o.now().UnixMilli(), int64(last)+1)
	if err := o.w.Save(ctx, uint64(p+o.saveInterval)); err != nil {
		return err
	}
	o.physical, o.logical, o.saved, o.synced = p, 0, p+o.saveInterval, true
	return nil
}

// Reset stops the oracle; call it when leadership is lost.
func (o *Oracle) Reset() {
	o.mu.Lock()
	o.synced = false
	o.mu.Unlock()
}

// Update moves physical time forward to the clock and extends the saved
// window when less than a third of it is left. Call it periodically.
func (o *Oracle) Update(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.synced {
		return ErrNotSynced
	}
	if now := o.now().UnixMilli(); now > o.physical {
		if err := o.ensureWindowLocked(ctx, now); err != nil {
			return err
		}
		o.physical, o.logical = now, 0
	}
	if o.saved-o.physical <= o.saveInterval/3 {
		return o.ensureWindowLocked(ctx, o.physical+o.saveInterval/3+1)
	}
	return nil
}

// ensureWindowLocked saves a new bound if p would reach the saved one.
//
// A failed save leaves the oracle synced: the caller gets the error, and
// the next Get or Update tries again. That is safe whether or not the
// failed write reached etcd: the oracle keeps handing out timestamps below
// the bound it knows was saved, and a bound that did land is only higher,
// which a next leader starts after. Treating one failure (an etcd timeout,
// or a client closing its stream while its Get was saving) as the end of
// the term would stop timestamps until the next election.
func (o *Oracle) ensureWindowLocked(ctx context.Context, p int64) error {
	if p < o.saved {
		return nil
	}
	next := p + o.saveInterval
	if err := o.w.Save(ctx, uint64(next)); err != nil {
		return err
	}
	o.saved = next
	return nil
}

// Get reserves count timestamps and returns the last of them.
func (o *Oracle) Get(ctx context.Context, count uint32) (pdpb.Timestamp, error) {
	if count == 0 || int64(count) >= maxLogical {
		return pdpb.Timestamp{}, ErrBadCount
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.synced {
		return pdpb.Timestamp{}, ErrNotSynced
	}
	if o.logical+int64(count) >= maxLogical {
		// The logical counter is used up within this millisecond: borrow the
		// next one rather than waiting for the clock.
		if err := o.ensureWindowLocked(ctx, o.physical+1); err != nil {
			return pdpb.Timestamp{}, err
		}
		o.physical, o.logical = o.physical+1, 0
	}
	o.logical += int64(count)
	return pdpb.Timestamp{Physical: o.physical, Logical: o.logical}, nil
}

// Compose packs a timestamp into one uint64 (physical << 18 | logical).
func Compose(ts pdpb.Timestamp) uint64 {
	return uint64(ts.Physical)<<LogicalBits | uint64(ts.Logical)
}
