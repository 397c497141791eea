package operator

import (
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/cluster"
)

// ErrUnsafeRemoval: removing the peer would leave the region's voters
// without a healthy quorum. A conf change needs a quorum of the new
// configuration to make progress afterwards; removing a healthy voter while
// others are down or lagging can leave the region unable to commit anything
// (Raft thesis §4.2.1 counts only the new configuration).
var ErrUnsafeRemoval = errors.New("operator: removal would leave the region without a healthy quorum")

// PeerHealth is how far a peer can be counted on to acknowledge writes.
type PeerHealth int

// Peer healths, from best to worst.
const (
	// PeerHealthy: up and caught up.
	PeerHealthy PeerHealth = iota
	// PeerLagging: alive but far behind (pending a snapshot); it will
	// acknowledge writes once caught up.
	PeerLagging
	// PeerDead: reported down by the leader, or on a silent store.
	PeerDead
)

// Health judges one peer of a region.
type Health func(p *metapb.Peer) PeerHealth

// ReportedHealth judges peers by what r's leader reported: down peers are
// dead, pending ones lagging. Callers that also know the stores (checkers,
// the admin API) add store liveness.
func ReportedHealth(r *cluster.RegionInfo) Health {
	return func(p *metapb.Peer) PeerHealth {
		switch {
		case r.IsDown(p.Id):
			return PeerDead
		case r.IsPending(p.Id):
			return PeerLagging
		}
		return PeerHealthy
	}
}

// isVoter reports whether p votes (learners do not count in quorums).
func isVoter(p *metapb.Peer) bool { return p.GetRole() != metapb.PeerRole_Learner }

// CheckRemovable reports why removing r's peer on store could cost the
// region its quorum: after the removal, the healthy voters must still be a
// majority of the remaining voters. Removing a dead peer or a learner never
// makes things worse, so it is always allowed; removing a lagging one is
// judged like a healthy one (with a dead peer left behind it would be the
// worse choice: the lagging one catches up, the dead one does not).
func CheckRemovable(r *cluster.RegionInfo, store uint64, health Health) error {
	target := r.StorePeer(store)
	if target == nil || !isVoter(target) || health(target) == PeerDead {
		return nil
	}
	voters, ok := 0, 0
	for _, p := range r.Peers() {
		if p.Id == target.Id || !isVoter(p) {
			continue
		}
		voters++
		if health(p) == PeerHealthy {
			ok++
		}
	}
	if ok < voters/2+1 {
		return fmt.Errorf("%w: region %d without its peer on store %d keeps %d healthy of %d voters, a quorum needs %d",
			ErrUnsafeRemoval, r.ID(), store, ok, voters, voters/2+1)
	}
	return nil
}
