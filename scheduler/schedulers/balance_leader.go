package schedulers

import (
	"fmt"
	"math/rand/v2"

	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// BalanceLeaderName names the balance-leader scheduler.
const BalanceLeaderName = "balance-leader"

// balanceLeader moves leaders from the store with the highest leader score
// to followers on the store with the lowest, counting pending operators.
type balanceLeader struct{ rng *rand.Rand }

// NewBalanceLeader returns a balance-leader scheduler drawing from rng.
func NewBalanceLeader(rng *rand.Rand) Scheduler { return &balanceLeader{rng: rng} }

func (*balanceLeader) Name() string        { return BalanceLeaderName }
func (*balanceLeader) Kind() operator.Kind { return operator.KindLeader }

func (b *balanceLeader) Schedule(c Cluster, inf operator.Influence, o *filter.Options) ([]*operator.Operator, string) {
	stores := c.GetStores()
	score := func(s *cluster.StoreInfo) float64 { return s.LeaderScore(inf.Of(s.ID()).LeaderCount) }
	sources, _ := filter.Apply(o, stores, filter.Source...)
	targets, _ := filter.Apply(o, stores, filter.LeaderTarget...)
	if len(sources) == 0 || len(targets) < 2 {
		return nil, fmt.Sprintf("%d source and %d target stores: need 1 and 2", len(sources), len(targets))
	}
	srcRank, dstRank := rank(sources, score, true), rank(targets, score, false)
	avg := mean(dstRank)
	lastWhy := ""
	for _, src := range srcRank {
		if src.s.LeaderCount == 0 {
			break
		}
		unit := 1 / src.s.LeaderWeight
		// The best target is the lowest-scored store holding a follower.
		for _, r := range c.RandLeaderRegions(src.s.ID(), regionSample, b.rng) {
			if c.HasOperator(r.ID()) || len(r.PendingPeers()) > 0 || len(r.DownPeers()) > 0 {
				continue
			}
			for _, dst := range dstRank {
				if dst.s.ID() == src.s.ID() || r.StorePeer(dst.s.ID()) == nil {
					continue
				}
				ok, why := worthMoving(src.score, dst.score, unit, avg, o.Tolerance)
				if !ok {
					lastWhy = fmt.Sprintf("store %d -> %d: %s", src.s.ID(), dst.s.ID(), why)
					break
				}
				op, err := operator.CreateTransferLeader(BalanceLeaderName, r, dst.s.ID(), operator.KindLeader, operator.PriorityLow)
				if err != nil {
					lastWhy = err.Error()
					continue
				}
				return []*operator.Operator{op}, ""
			}
		}
	}
	if lastWhy == "" {
		lastWhy = "no leader region with a follower on a better store"
	}
	return nil, "balanced: " + lastWhy
}
