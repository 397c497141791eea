package operator

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
)

// Sentinel errors of Controller.Add.
var (
	ErrRegionBusy = errors.New("operator: region already has an operator of equal or higher priority")
	ErrKindLimit  = errors.New("operator: too many operators of this kind in flight")
	ErrStoreLimit = errors.New("operator: too many operators in flight on a store")
	ErrStale      = errors.New("operator: region changed since the operator was built")
	ErrNoSteps    = errors.New("operator: no steps")
	// ErrInvalidSplitKeys: keys a store would refuse to split a region at.
	ErrInvalidSplitKeys = errors.New("operator: invalid split keys")
)

// Limits bound the operators in flight.
type Limits struct {
	Leader, Region, Replica, Hot int // operators per kind
	Store                        int // operators moving data per store
	Timeout                      time.Duration
}

// Sender delivers a heartbeat response to region r's leader.
type Sender func(r *cluster.RegionInfo, resp *pdpb.RegionHeartbeatResponse)

// View is a read-only description of an operator.
type View struct {
	RegionID uint64   `json:"region-id"`
	Desc     string   `json:"desc"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	Step     int      `json:"step"`
	Steps    []string `json:"steps"`
	Created  string   `json:"created"`
	status   Status
}

// PBStatus is the wire status.
func (v View) PBStatus() pdpb.OperatorStatus { return v.status.PB() }

type entry struct {
	op     *Operator
	region *cluster.RegionInfo // last seen
	sentAt time.Time           // when the current step was last sent
}

// StepResendInterval is how long a step may go without being sent before
// CheckTimeouts sends it again. Steps are otherwise sent with each region
// heartbeat (a minute apart by default), and a leader may refuse a step it
// cannot take yet (ServerIsBusy: a new leader that has not applied its
// first entry, a membership change still applying) or never receive it.
const StepResendInterval = 3 * time.Second

const historySize = 1024

// Controller runs operators: at most one per region.
type Controller struct {
	limits func() Limits
	now    func() time.Time
	logger *zap.Logger

	mu      sync.Mutex
	send    Sender
	ops     map[uint64]*entry
	history map[uint64]View // last finished operator per region, bounded
	order   []uint64

	onFinish func(View) // called with mu held; must be quick (metrics)
	// health judges a region's peers for removals; the leader's report
	// alone (ReportedHealth) unless SetHealth gives more.
	health func(*cluster.RegionInfo) Health
}

// SetHealth installs how removal steps judge a region's peers when they
// are due: with store liveness, a removal is refused while another peer's
// store has gone silent even before its leader reports the peer down.
func (c *Controller) SetHealth(f func(*cluster.RegionInfo) Health) {
	c.mu.Lock()
	c.health = f
	c.mu.Unlock()
}

func (c *Controller) healthOf(r *cluster.RegionInfo) Health {
	if c.health == nil {
		return ReportedHealth(r)
	}
	return c.health(r)
}

// SetOnFinish installs f, called with every operator that finishes
// (succeeds, is canceled, replaced or times out), for metrics.
func (c *Controller) SetOnFinish(f func(View)) {
	c.mu.Lock()
	c.onFinish = f
	c.mu.Unlock()
}

// NewController returns a controller reading its limits from limits.
func NewController(limits func() Limits, now func() time.Time, logger *zap.Logger) *Controller {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Controller{limits: limits, now: now, logger: logger,
		ops: map[uint64]*entry{}, history: map[uint64]View{}}
}

// SetSender installs how responses are pushed when an operator is added.
func (c *Controller) SetSender(s Sender) {
	c.mu.Lock()
	c.send = s
	c.mu.Unlock()
}

// Add admits op for region r (the region as the caller saw it) and sends
// its first step at once. A running operator of lower priority is replaced.
func (c *Controller) Add(op *Operator, r *cluster.RegionInfo) error {
	if len(op.steps) == 0 {
		return ErrNoSteps
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.ops[op.RegionID]; cur != nil && cur.op.Priority >= op.Priority {
		return fmt.Errorf("%w: region %d: %s", ErrRegionBusy, op.RegionID, cur.op.Desc)
	}
	if err := c.admitLocked(op); err != nil {
		return err
	}
	step, stale := op.check(r, c.healthOf(r))
	if stale {
		return ErrStale
	}
	if step == nil {
		return nil // already done: nothing to run
	}
	if cur := c.ops[op.RegionID]; cur != nil {
		c.finishLocked(cur, Replaced)
	}
	now := c.now()
	op.timeout = c.limits().Timeout
	op.transition(Started, now)
	c.ops[op.RegionID] = &entry{op: op, region: r, sentAt: now}
	c.logger.Info("operator started", zap.Uint64("region-id", op.RegionID), zap.Stringer("operator", op))
	if c.send != nil {
		c.send(r, response(step, r))
	}
	return nil
}

// admitLocked checks the kind and store limits for op.
func (c *Controller) admitLocked(op *Operator) error {
	l := c.limits()
	if op.Kind&KindAdmin == 0 {
		for _, k := range []struct {
			kind  Kind
			limit int
		}{{KindLeader, l.Leader}, {KindRegion, l.Region}, {KindReplica, l.Replica}, {KindHot, l.Hot}} {
			if op.Kind&k.kind != 0 && c.countLocked(k.kind) >= k.limit {
				return fmt.Errorf("%w: %s", ErrKindLimit, k.kind)
			}
		}
	}
	perStore := c.storeLoadLocked()
	for _, s := range op.steps {
		for _, st := range s.stores() {
			if perStore[st] >= l.Store {
				return fmt.Errorf("%w: store %d", ErrStoreLimit, st)
			}
		}
	}
	return nil
}

func (c *Controller) countLocked(k Kind) int {
	n := 0
	for _, e := range c.ops {
		if e.op.Kind&k != 0 {
			n++
		}
	}
	return n
}

func (c *Controller) storeLoadLocked() map[uint64]int {
	m := map[uint64]int{}
	for _, e := range c.ops {
		seen := map[uint64]bool{}
		for _, s := range e.op.steps[e.op.cur:] {
			for _, st := range s.stores() {
				if !seen[st] {
					seen[st] = true
					m[st]++
				}
			}
		}
	}
	return m
}

// Dispatch checks region r's operator against r and returns the response to
// send to r's leader, or nil when there is nothing to send.
func (c *Controller) Dispatch(r *cluster.RegionInfo) *pdpb.RegionHeartbeatResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.ops[r.ID()]
	if e == nil {
		return nil
	}
	e.region = r
	if e.op.timedOut(c.now()) {
		c.finishLocked(e, Timeout)
		return nil
	}
	step, stale := e.op.check(r, c.healthOf(r))
	switch {
	case stale:
		c.finishLocked(e, Expired)
		return nil
	case step == nil:
		c.finishLocked(e, Success)
		return nil
	}
	e.sentAt = c.now()
	return response(step, r)
}

func (c *Controller) finishLocked(e *entry, st Status) {
	if !e.op.transition(st, c.now()) {
		return
	}
	delete(c.ops, e.op.RegionID)
	if _, ok := c.history[e.op.RegionID]; !ok {
		c.order = append(c.order, e.op.RegionID)
		if len(c.order) > historySize {
			delete(c.history, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.history[e.op.RegionID] = viewOf(e.op)
	if c.onFinish != nil {
		c.onFinish(c.history[e.op.RegionID])
	}
	c.logger.Info("operator finished", zap.Uint64("region-id", e.op.RegionID),
		zap.Stringer("status", st), zap.String("desc", e.op.Desc),
		zap.Duration("took", e.op.ended.Sub(e.op.started)))
}

// CheckTimeouts ends operators that ran past their timeout even if their
// region stopped heartbeating, and sends again the current step of those
// whose step went unsent for StepResendInterval (checked against the
// region as last seen).
func (c *Controller) CheckTimeouts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, e := range c.ops {
		if e.op.timedOut(now) {
			c.finishLocked(e, Timeout)
			continue
		}
		if now.Sub(e.sentAt) < StepResendInterval || c.send == nil {
			continue
		}
		step, stale := e.op.check(e.region, c.healthOf(e.region))
		switch {
		case stale:
			c.finishLocked(e, Expired)
		case step == nil:
			c.finishLocked(e, Success)
		default:
			e.sentAt = now
			c.send(e.region, response(step, e.region))
		}
	}
}

// Priority is the priority of region's running operator; ok is false if
// it has none.
func (c *Controller) Priority(regionID uint64) (p Priority, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.ops[regionID]; e != nil {
		return e.op.Priority, true
	}
	return 0, false
}

// Cancel ends region's operator; it reports whether there was one.
func (c *Controller) Cancel(regionID uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.ops[regionID]
	if e == nil {
		return false
	}
	c.finishLocked(e, Canceled)
	return true
}

// Has reports whether region has a running operator.
func (c *Controller) Has(regionID uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[regionID] != nil
}

// Get describes region's running operator, else its last finished one.
func (c *Controller) Get(regionID uint64) (View, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.ops[regionID]; e != nil {
		return viewOf(e.op), true
	}
	v, ok := c.history[regionID]
	return v, ok
}

// List describes every running operator, ordered by region ID.
func (c *Controller) List() []View {
	c.mu.Lock()
	out := make([]View, 0, len(c.ops))
	for _, e := range c.ops {
		out = append(out, viewOf(e.op))
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].RegionID < out[j].RegionID })
	return out
}

// Count is the number of running operators of kind k.
func (c *Controller) Count(k Kind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(k)
}

// Influence is the pending effect of all running operators on stores.
func (c *Controller) Influence() Influence {
	c.mu.Lock()
	defer c.mu.Unlock()
	inf := Influence{}
	for _, e := range c.ops {
		e.op.influence(inf, e.region)
	}
	return inf
}

func viewOf(o *Operator) View {
	steps := make([]string, len(o.steps))
	for i, s := range o.steps {
		steps[i] = s.String()
	}
	return View{RegionID: o.RegionID, Desc: o.Desc, Kind: o.Kind.String(), Status: o.status.String(),
		Step: o.cur, Steps: steps, Created: o.created.Format(time.RFC3339Nano), status: o.status}
}
