package schedulers

import (
	"fmt"
	"math/rand/v2"

	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// BalanceRegionName names the balance-region scheduler.
const BalanceRegionName = "balance-region"

// balanceRegion moves replicas from the store with the highest region score
// (size in MiB over weight) to the lowest-scored store that can take one.
type balanceRegion struct{ rng *rand.Rand }

// NewBalanceRegion returns a balance-region scheduler drawing from rng.
func NewBalanceRegion(rng *rand.Rand) Scheduler { return &balanceRegion{rng: rng} }

func (*balanceRegion) Name() string        { return BalanceRegionName }
func (*balanceRegion) Kind() operator.Kind { return operator.KindRegion }

func (b *balanceRegion) Schedule(c Cluster, inf operator.Influence, o *filter.Options) ([]*operator.Operator, string) {
	stores := c.GetStores()
	score := func(s *cluster.StoreInfo) float64 { return s.RegionScore(inf.Of(s.ID()).RegionSize) }
	sources, _ := filter.Apply(o, stores, filter.Source...)
	targets, why := filter.Apply(o, stores, filter.RegionTarget...)
	if len(sources) == 0 || len(targets) == 0 {
		return nil, fmt.Sprintf("no source or target store: %v", why)
	}
	alive := map[uint64]bool{}
	for _, s := range stores {
		alive[s.ID()] = s.Alive(o.Now, o.Thresholds)
	}
	// A region with a replica on a silent store is not moved for balance:
	// its leader may not report that peer down for minutes, and removing
	// a healthy replica meanwhile could leave it without a quorum.
	silentPeer := func(r *cluster.RegionInfo) bool {
		for _, p := range r.Peers() {
			if !alive[p.StoreId] {
				return true
			}
		}
		return false
	}
	srcRank, dstRank := rank(sources, score, true), rank(targets, score, false)
	avg := mean(dstRank)
	lastWhy := ""
	for _, src := range srcRank {
		if src.s.RegionCount == 0 {
			break
		}
		for _, r := range c.RandPeerRegions(src.s.ID(), regionSample, b.rng) {
			if c.HasOperator(r.ID()) || len(r.PendingPeers()) > 0 || len(r.DownPeers()) > 0 ||
				len(r.Peers()) != o.MaxReplicas || r.Leader() == nil || silentPeer(r) {
				continue
			}
			unit := float64(r.SizeMiB()) / src.s.RegionWeight
			for _, dst := range dstRank {
				if r.StorePeer(dst.s.ID()) != nil {
					continue
				}
				ok, why := worthMoving(src.score, dst.score, unit, avg, o.Tolerance)
				if !ok {
					lastWhy = fmt.Sprintf("store %d -> %d: %s", src.s.ID(), dst.s.ID(), why)
					break
				}
				id, err := c.AllocID()
				if err != nil {
					return nil, "alloc peer id: " + err.Error()
				}
				op, err := operator.CreateMovePeer(BalanceRegionName, r, src.s.ID(), dst.s.ID(), id, operator.KindRegion, operator.PriorityLow)
				if err != nil {
					lastWhy = err.Error()
					continue
				}
				return []*operator.Operator{op}, ""
			}
		}
	}
	if lastWhy == "" {
		lastWhy = "no movable region (all busy, unhealthy or not fully replicated)"
	}
	return nil, "balanced: " + lastWhy
}
