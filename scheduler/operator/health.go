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

// Healthy judges one peer of a region: true when it can be counted on to
// acknowledge writes now.
type Healthy func(p *metapb.Peer) bool

// ReportedHealthy judges peers by what r's leader reported: a peer it
// reports down (silent) or pending (far behind) does not count. Callers
// that also know the stores (checkers, the admin API) add store liveness.
func ReportedHealthy(r *cluster.RegionInfo) Healthy {
	return func(p *metapb.Peer) bool { return !r.IsDown(p.Id) && !r.IsPending(p.Id) }
}

// isVoter reports whether p votes (learners do not count in quorums).
func isVoter(p *metapb.Peer) bool { return p.GetRole() != metapb.PeerRole_Learner }

// CheckRemovable reports why removing r's peer on store could cost the
// region its quorum: after the removal, the healthy voters must still be a
// majority of the remaining voters. Removing an unhealthy peer or a learner
// never makes things worse, so it is always allowed.
func CheckRemovable(r *cluster.RegionInfo, store uint64, healthy Healthy) error {
	target := r.StorePeer(store)
	if target == nil {
		return nil
	}
	if !isVoter(target) || !healthy(target) {
		return nil
	}
	voters, ok := 0, 0
	for _, p := range r.Peers() {
		if p.Id == target.Id || !isVoter(p) {
			continue
		}
		voters++
		if healthy(p) {
			ok++
		}
	}
	if ok < voters/2+1 {
		return fmt.Errorf("%w: region %d without its peer on store %d keeps %d healthy of %d voters, a quorum needs %d",
			ErrUnsafeRemoval, r.ID(), store, ok, voters, voters/2+1)
	}
	return nil
}
