// Package checker holds checkers: each looks at one region and returns at
// most one operator to fix it, or says why it did nothing.
package checker

import (
	"fmt"
	"strings"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// Cluster is what the replica checker reads.
type Cluster interface {
	GetStore(id uint64) *cluster.StoreInfo
	GetStores() []*cluster.StoreInfo
	// AllocID returns a new unique ID (for new peers).
	AllocID() (uint64, error)
}

// Reasons the replica checker returns with no operator.
const (
	ReasonHealthy = "region has the right replicas on healthy stores"
)

// ReplicaChecker keeps every region at max-replicas healthy replicas:
// a learner left behind is promoted or removed first, then replicas on Down stores (or reported down for longer than max-store-down-
// time) are replaced first, then replicas on Offline stores, then missing
// replicas are added, then extra ones removed.
type ReplicaChecker struct {
	cluster Cluster
}

// NewReplicaChecker returns a checker over c.
func NewReplicaChecker(c Cluster) *ReplicaChecker { return &ReplicaChecker{cluster: c} }

// Check returns an operator for r or the reason it has none.
func (rc *ReplicaChecker) Check(o *filter.Options, r *cluster.RegionInfo) (*operator.Operator, string) {
	if r.Leader() == nil {
		return nil, "region has no known leader"
	}
	if op, why, done := rc.settleLearners(o, r); done {
		return op, why
	}
	if op, why, done := rc.replaceUnhealthy(o, r); done {
		return op, why
	}
	n := len(r.Peers())
	switch {
	case n < o.MaxReplicas:
		return rc.addMissing(o, r)
	case n > o.MaxReplicas:
		return rc.removeExtra(o, r)
	}
	return nil, ReasonHealthy
}

// settleLearners handles a learner no operator is finishing (its operator
// timed out, was cancelled, or the scheduler leader changed between its
// steps), or one a low-priority operator is adding when a voter fails. A
// learner counts in no quorum, so it is removed when its store is
// unhealthy or the region has enough healthy voters, and promoted when the
// region lacks one: that is also the quickest repair of a failed voter
// (the extra, failed one is removed next). One still catching up is waited
// for. done is false when the region has no learner.
func (rc *ReplicaChecker) settleLearners(o *filter.Options, r *cluster.RegionInfo) (*operator.Operator, string, bool) {
	healthyVoters, failedVoter := 0, false
	for _, p := range r.Peers() {
		if p.Role == metapb.PeerRole_Learner {
			continue
		}
		if rc.peerIs(o, r, p.Id, p.StoreId, "down") || rc.peerIs(o, r, p.Id, p.StoreId, "offline") {
			failedVoter = true
		} else {
			healthyVoters++
		}
	}
	health := rc.Health(o, r)
	for _, p := range r.Peers() {
		if p.Role != metapb.PeerRole_Learner {
			continue
		}
		unhealthy := rc.peerIs(o, r, p.Id, p.StoreId, "down") || rc.peerIs(o, r, p.Id, p.StoreId, "offline") ||
			health(p) == operator.PeerDead
		if unhealthy || healthyVoters >= o.MaxReplicas {
			desc, prio := "remove-extra-learner", operator.PriorityNormal
			if unhealthy {
				desc, prio = "remove-unhealthy-learner", operator.PriorityHigh
			}
			op, err := operator.CreateRemovePeer(desc, r, p.StoreId, operator.KindReplica, prio)
			if err != nil {
				return nil, err.Error(), true
			}
			return op, "", true
		}
		if health(p) == operator.PeerLagging {
			return nil, fmt.Sprintf("learner %d on store %d is catching up", p.Id, p.StoreId), true
		}
		prio := operator.PriorityNormal
		if failedVoter {
			prio = operator.PriorityHigh
		}
		return operator.New("promote-learner", r, operator.KindReplica, prio,
			operator.PromoteLearner{ToStore: p.StoreId, PeerID: p.Id}), "", true
	}
	return nil, "", false
}

// replaceUnhealthy handles down peers, then offline peers. done is false
// when the region has neither.
func (rc *ReplicaChecker) replaceUnhealthy(o *filter.Options, r *cluster.RegionInfo) (*operator.Operator, string, bool) {
	for _, kind := range []string{"down", "offline"} {
		for _, p := range r.Peers() {
			if !rc.peerIs(o, r, p.Id, p.StoreId, kind) {
				continue
			}
			if len(r.Peers()) > o.MaxReplicas {
				// Already over: removing is the repair, unhealthy peers
				// first (removeExtra's order).
				op, why := rc.removeExtra(o, r)
				return op, why, true
			}
			desc := "replace-" + kind + "-replica"
			target, why := rc.bestTarget(o, r)
			if target == 0 {
				return nil, fmt.Sprintf("cannot replace %s peer %d on store %d: %s", kind, p.Id, p.StoreId, why), true
			}
			id, err := rc.cluster.AllocID()
			if err != nil {
				return nil, "alloc peer id: " + err.Error(), true
			}
			op, err := operator.CreateMovePeer(desc, r, p.StoreId, target, id, operator.KindReplica, operator.PriorityHigh)
			if err != nil {
				return nil, err.Error(), true
			}
			return op, "", true
		}
	}
	return nil, "", false
}

// Health judges r's peers with everything the scheduler knows: the
// leader's report (down, pending) and the liveness of each peer's store (a
// peer on a silent store is dead before its leader reports it down, which
// takes minutes).
func (rc *ReplicaChecker) Health(o *filter.Options, r *cluster.RegionInfo) operator.Health {
	reported := operator.ReportedHealth(r)
	return func(p *metapb.Peer) operator.PeerHealth {
		if s := rc.cluster.GetStore(p.StoreId); s == nil || !s.Alive(o.Now, o.Thresholds) {
			return operator.PeerDead
		}
		return reported(p)
	}
}

func (rc *ReplicaChecker) peerIs(o *filter.Options, r *cluster.RegionInfo, peerID, storeID uint64, kind string) bool {
	s := rc.cluster.GetStore(storeID)
	if s == nil {
		return kind == "down"
	}
	st := s.State(o.Now, o.Thresholds)
	if kind == "offline" {
		return st == cluster.StateOffline || st == cluster.StateTombstone
	}
	if st == cluster.StateDown {
		return true
	}
	for _, d := range r.DownPeers() {
		if d.Peer.GetId() == peerID && time.Duration(d.DownSeconds)*time.Second >= o.Thresholds.Down {
			return true
		}
	}
	return false
}

func (rc *ReplicaChecker) addMissing(o *filter.Options, r *cluster.RegionInfo) (*operator.Operator, string) {
	target, why := rc.bestTarget(o, r)
	if target == 0 {
		return nil, fmt.Sprintf("region has %d of %d replicas but no store can take one: %s",
			len(r.Peers()), o.MaxReplicas, why)
	}
	id, err := rc.cluster.AllocID()
	if err != nil {
		return nil, "alloc peer id: " + err.Error()
	}
	return operator.CreateAddPeer("add-replica", r, target, id, operator.KindReplica, operator.PriorityNormal), ""
}

// removeExtra removes the worst replica: a dead one first (reported down by
// the leader, or on a store not heard from; the one silent longest), then a
// lagging one (pending),
// then one on a store that is not Up (Offline), then the one on the store
// with the highest region score. Choosing by store state and score alone would
// remove a healthy replica while others are down, and lowering
// max-replicas 5 -> 3 with two peers down would leave 2 healthy of 4.
// The removal is refused when it would leave fewer healthy voters than a
// quorum (operator.CheckRemovable).
func (rc *ReplicaChecker) removeExtra(o *filter.Options, r *cluster.RegionInfo) (*operator.Operator, string) {
	health := rc.Health(o, r)
	type cand struct {
		p       *metapb.Peer
		s       *cluster.StoreInfo
		trouble int // higher is removed first
	}
	var worst *cand
	worse := func(a, b *cand) bool {
		if a.trouble != b.trouble {
			return a.trouble > b.trouble
		}
		// Of two dead ones, the one silent longer: a store that only missed
		// a few heartbeats (a busy machine) may well be alive.
		if la, lb := a.s.LastHeartbeat, b.s.LastHeartbeat; a.trouble == 3 && !la.Equal(lb) {
			return la.Before(lb)
		}
		if as, bs := a.s.RegionScore(0), b.s.RegionScore(0); as != bs {
			return as > bs
		}
		return a.s.ID() > b.s.ID()
	}
	for _, p := range r.Peers() {
		s := rc.cluster.GetStore(p.StoreId)
		if s == nil {
			continue
		}
		c := &cand{p: p, s: s}
		switch h := health(p); {
		case h == operator.PeerDead:
			c.trouble = 3
		case h == operator.PeerLagging:
			c.trouble = 2
		case s.State(o.Now, o.Thresholds) != cluster.StateUp:
			c.trouble = 1
		}
		if worst == nil || worse(c, worst) {
			worst = c
		}
	}
	if worst == nil {
		return nil, "no known store holds the region's extra replica"
	}
	if err := operator.CheckRemovable(r, worst.s.ID(), health); err != nil {
		return nil, err.Error()
	}
	op, err := operator.CreateRemovePeer("remove-extra-replica", r, worst.s.ID(), operator.KindReplica, operator.PriorityNormal)
	if err != nil {
		return nil, err.Error()
	}
	return op, ""
}

// bestTarget is the store with the lowest region score among those that
// may receive a replica and hold none of r's; ties go to the lower ID.
func (rc *ReplicaChecker) bestTarget(o *filter.Options, r *cluster.RegionInfo) (uint64, string) {
	var have []uint64
	for _, p := range r.Peers() {
		have = append(have, p.StoreId)
	}
	others, _ := filter.Apply(o, rc.cluster.GetStores(), filter.Exclude(have...))
	kept, reasons := filter.Apply(o, others, filter.RegionTarget...)
	var best *cluster.StoreInfo
	for _, s := range kept {
		if best == nil || s.RegionScore(0) < best.RegionScore(0) {
			best = s
		}
	}
	if best == nil {
		return 0, strings.Join(reasons, "; ")
	}
	return best.ID(), ""
}
