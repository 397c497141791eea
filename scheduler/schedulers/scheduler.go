// Package schedulers holds the periodic, cluster-wide schedulers
// (balance-leader, balance-region, balance-hot-region) and the run-time registry that lists,
// adds, removes and pauses them. A scheduler returns operators or the reason
// it returned none.
package schedulers

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// Cluster is what balance schedulers read.
type Cluster interface {
	GetStores() []*cluster.StoreInfo
	RandLeaderRegions(store uint64, n int, rng *rand.Rand) []*cluster.RegionInfo
	RandPeerRegions(store uint64, n int, rng *rand.Rand) []*cluster.RegionInfo
	GetRegion(id uint64) *cluster.RegionInfo
	// RegionLoads is every region whose load is known (package hot).
	RegionLoads() []hot.RegionStat
	// HasOperator reports whether region already has a running operator.
	HasOperator(regionID uint64) bool
	AllocID() (uint64, error)
}

// Scheduler is one periodic scheduler.
type Scheduler interface {
	Name() string
	// Kind is the operator kind it creates, for the controller's limits.
	Kind() operator.Kind
	// Schedule returns operators, or none and the reason.
	Schedule(c Cluster, inf operator.Influence, o *filter.Options) ([]*operator.Operator, string)
}

// regionSample is how many regions of a store a scheduler looks at per run.
const regionSample = 64

// scored is a store with its score including pending influence.
type scored struct {
	s     *cluster.StoreInfo
	score float64
}

// rank scores stores and sorts them by score, ties by ID.
func rank(stores []*cluster.StoreInfo, score func(*cluster.StoreInfo) float64, desc bool) []scored {
	out := make([]scored, len(stores))
	for i, s := range stores {
		out[i] = scored{s, score(s)}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return (out[i].score > out[j].score) == desc
		}
		return out[i].s.ID() < out[j].s.ID()
	})
	return out
}

func mean(ss []scored) float64 {
	if len(ss) == 0 {
		return 0
	}
	var sum float64
	for _, s := range ss {
		sum += s.score
	}
	return sum / float64(len(ss))
}

// worthMoving reports whether moving unit from src to dst narrows their gap
// without reversing it, and the gap is beyond tolerance of the mean.
func worthMoving(src, dst, unit, avg, tolerance float64) (bool, string) {
	gap := src - dst
	if gap < 2*unit {
		return false, fmt.Sprintf("gap %.2f is less than twice the unit moved (%.2f)", gap, unit)
	}
	if gap <= tolerance*avg {
		return false, fmt.Sprintf("gap %.2f is within tolerance %.0f%% of mean %.2f", gap, tolerance*100, avg)
	}
	return true, ""
}
