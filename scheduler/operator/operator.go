package operator

import (
	"fmt"
	"strings"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/hot"
)

// Kind classifies an operator for limits; an operator may have several.
type Kind uint32

// Operator kinds.
const (
	KindLeader  Kind = 1 << iota // moves leaders
	KindRegion                   // moves replicas for balance
	KindReplica                  // repairs replicas (checker)
	KindSplit                    // splits a region
	KindAdmin                    // asked for by a person
	KindHot                      // moves load (balance-hot-region)
)

func (k Kind) String() string {
	var parts []string
	for i, n := range []string{"leader", "region", "replica", "split", "admin", "hot"} {
		if k&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// Priority orders operators competing for one region.
type Priority int

// Priorities.
const (
	PriorityLow Priority = iota
	PriorityNormal
	PriorityHigh
)

// Operator is an ordered list of steps for one region. It is not safe for
// concurrent use; the Controller serializes access.
type Operator struct {
	Desc     string
	RegionID uint64
	Kind     Kind
	Priority Priority
	// epoch is the region's epoch when the operator was built.
	epoch   metapb.RegionEpoch
	steps   []Step
	cur     int
	status  Status
	created time.Time
	started time.Time
	ended   time.Time
	timeout time.Duration
	// load, when set, is the region's load the operator moves between
	// stores (SetLoad).
	load *hot.Loads
}

// New builds an operator for region r.
func New(desc string, r *cluster.RegionInfo, kind Kind, prio Priority, steps ...Step) *Operator {
	return &Operator{
		Desc: desc, RegionID: r.ID(), Kind: kind, Priority: prio,
		epoch: *r.Epoch(), steps: steps, status: Created, created: time.Now(),
	}
}

func (o *Operator) String() string {
	parts := make([]string, len(o.steps))
	for i, s := range o.steps {
		parts[i] = s.String()
	}
	return fmt.Sprintf("%s (kind=%s, region=%d, step=%d/%d, status=%s): [%s]",
		o.Desc, o.Kind, o.RegionID, o.cur, len(o.steps), o.status, strings.Join(parts, ", "))
}

// Steps returns the operator's steps.
func (o *Operator) Steps() []Step { return o.steps }

// Status is the operator's status.
func (o *Operator) Status() Status { return o.status }

// CurrentStep is the index of the step in progress.
func (o *Operator) CurrentStep() int { return o.cur }

// transition moves to status to if the table allows it.
func (o *Operator) transition(to Status, now time.Time) bool {
	if !CanTransition(o.status, to) {
		return false
	}
	o.status = to
	switch {
	case to == Started:
		o.started = now
	case to.IsFinal():
		o.ended = now
	}
	return true
}

// timedOut reports whether a started operator ran past its timeout.
func (o *Operator) timedOut(now time.Time) bool {
	return o.status == Started && o.timeout > 0 && now.Sub(o.started) > o.timeout
}

// check advances past every step r shows finished and returns the current
// step, or nil when all are done. stale is true when r's epoch moved in a
// way the operator's own steps cannot explain; then the operator must stop.
//
// Only what r shows of the steps up to the current one explains a change:
// a step not yet sent cannot have moved the epoch. Counting every step of
// the operator instead would let a change made by someone else (a removal
// sent by the operator this one replaced, landing late) pass for one of
// ours, and the operator would go on to remove another peer of a region
// that has already lost one.
//
// health judges r's peers for removal steps (RemovePeer.unsafe).
func (o *Operator) check(r *cluster.RegionInfo, health Health) (step Step, stale bool) {
	for o.cur < len(o.steps) && o.steps[o.cur].IsFinished(r) {
		o.cur++
	}
	if o.cur == len(o.steps) {
		return nil, false
	}
	var confVer, version uint64
	for _, s := range o.steps[:o.cur+1] {
		c, v := s.shownIn(r)
		confVer, version = confVer+c, version+v
	}
	if e := r.Epoch(); e.Version > o.epoch.Version+version || e.ConfVer > o.epoch.ConfVer+confVer {
		return nil, true
	}
	if rm, ok := o.steps[o.cur].(RemovePeer); ok && rm.unsafe(r, health) {
		return nil, true
	}
	if s, ok := o.steps[o.cur].(interface {
		infeasible(*cluster.RegionInfo) bool
	}); ok && s.infeasible(r) {
		return nil, true
	}
	return o.steps[o.cur], false
}

// SetLoad makes the operator carry its region's load (rates per second):
// its pending influence then moves that load too, so that a scheduler
// balancing load counts the moves in flight.
func (o *Operator) SetLoad(l hot.Loads) { o.load = &l }

// influence adds the effect of the steps not yet finished.
func (o *Operator) influence(inf Influence, r *cluster.RegionInfo) {
	for _, s := range o.steps[o.cur:] {
		s.Influence(inf, r)
		if o.load != nil {
			loadInfluence(inf, s, *o.load)
		}
	}
}

// loadInfluence adds what step s moves of a region's load l: a new replica
// bears the writes, a leader all of it (hot.PeerLoads).
func loadInfluence(inf Influence, s Step, l hot.Loads) {
	follower := hot.PeerLoads(l, false)
	readPart := l
	readPart.Add(follower, -1)
	switch s := s.(type) {
	case AddPeer:
		inf.store(s.ToStore).PeerLoad.Add(follower, 1)
	case AddLearner:
		inf.store(s.ToStore).PeerLoad.Add(follower, 1)
	case RemovePeer:
		inf.store(s.FromStore).PeerLoad.Add(follower, -1)
	case TransferLeader:
		from, to := inf.store(s.FromStore), inf.store(s.ToStore)
		from.LeaderLoad.Add(l, -1)
		to.LeaderLoad.Add(l, 1)
		from.PeerLoad.Add(readPart, -1)
		to.PeerLoad.Add(readPart, 1)
	}
}

// response renders step for region r as a heartbeat response.
func response(step Step, r *cluster.RegionInfo) *pdpb.RegionHeartbeatResponse {
	resp := &pdpb.RegionHeartbeatResponse{
		RegionId:    r.ID(),
		RegionEpoch: r.Epoch(),
		TargetPeer:  r.Leader(),
	}
	step.fill(resp, r)
	return resp
}
