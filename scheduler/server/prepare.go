package server

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// A new leader knows the cluster only from etcd: stores with no stats
// (they look Up and empty) and regions with no leader and no size. Acting
// on that, it would pick a long-dead store as the best balance target and
// move data by sizes that are all zero. So a term starts in a prepare
// phase in which the checkers and balance schedulers do nothing, until
//
//   - every store that is not a Tombstone has heartbeated, or has had
//     store-disconnect-time to do so (after which it counts as
//     Disconnected, no target anyway); and
//   - the leaders of at least prepareRegionRatio of the regions have
//     reported them, or prepareMaxWait has passed (regions whose leaders
//     cannot report, having lost their quorum, must not stop the repair
//     of the others for ever).
//
// Region leaders report every region-heartbeat interval (a minute by
// default), so the phase lasts up to about that long after a failover. A
// new cluster (nothing in etcd) is prepared at once.
const (
	prepareRegionRatio = 0.9
	prepareMaxWait     = 3 * time.Minute
)

// prepare tracks the prepare phase of one term.
type prepare struct {
	start time.Time
	done  atomic.Bool
}

// prepared reports whether the prepare phase is over; once over it stays
// over for the term.
func (ls *leaderState) prepared() bool {
	if ls.prep.done.Load() {
		return true
	}
	now := ls.cluster.Now()
	waited := now.Sub(ls.prep.start)
	silent := 0
	for _, s := range ls.cluster.GetStores() {
		if !s.Reported && s.Meta.State != metapb.StoreState_Tombstone {
			silent++
		}
	}
	if silent > 0 && waited < ls.schedule().StoreDisconnectTime.Duration {
		return false
	}
	total, leaderless := ls.cluster.RegionCount(), ls.cluster.LeaderlessCount()
	if total > 0 && float64(total-leaderless) < prepareRegionRatio*float64(total) && waited < prepareMaxWait {
		return false
	}
	if ls.prep.done.CompareAndSwap(false, true) {
		ls.s.logger.Info("scheduler prepared", zap.Duration("waited", waited.Round(time.Millisecond)),
			zap.Int("silent-stores", silent), zap.Int("regions", total), zap.Int("leaderless-regions", leaderless))
	}
	return true
}
