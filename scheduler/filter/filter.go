// Package filter decides which stores may give up or receive replicas and
// leaders, and says why a store was left out.
package filter

import (
	"fmt"
	"time"

	"github.com/regionkv/regionkv/scheduler/cluster"
)

// Options are the settings filters, checkers and schedulers read.
type Options struct {
	Now           time.Time
	Thresholds    cluster.Thresholds
	MaxReplicas   int
	LowSpaceRatio float64
	Tolerance     float64
}

// Filter keeps or drops a store; a dropped store comes with a reason.
type Filter func(o *Options, s *cluster.StoreInfo) (ok bool, reason string)

// Up keeps stores in state Up.
func Up(o *Options, s *cluster.StoreInfo) (bool, string) {
	if st := s.State(o.Now, o.Thresholds); st != cluster.StateUp {
		return false, fmt.Sprintf("store %d is %s", s.ID(), st)
	}
	return true, ""
}

// Reported keeps stores that have heartbeated since this scheduler became
// leader: one only loaded from storage looks empty and Up, and may have been
// dead for long.
func Reported(_ *Options, s *cluster.StoreInfo) (bool, string) {
	if !s.Reported {
		return false, fmt.Sprintf("store %d has not reported to this scheduler leader yet", s.ID())
	}
	return true, ""
}

// NotBusy keeps stores that do not report themselves busy.
func NotBusy(_ *Options, s *cluster.StoreInfo) (bool, string) {
	if s.IsBusy() {
		return false, fmt.Sprintf("store %d is busy", s.ID())
	}
	return true, ""
}

// HasSpace keeps stores below the low-space ratio.
func HasSpace(o *Options, s *cluster.StoreInfo) (bool, string) {
	if r := s.UsedRatio(); r > o.LowSpaceRatio {
		return false, fmt.Sprintf("store %d is low on space (%.0f%% used)", s.ID(), r*100)
	}
	return true, ""
}

// Exclude drops the given stores (e.g. those already holding the region).
func Exclude(ids ...uint64) Filter {
	return func(_ *Options, s *cluster.StoreInfo) (bool, string) {
		for _, id := range ids {
			if s.ID() == id {
				return false, fmt.Sprintf("store %d is excluded", id)
			}
		}
		return true, ""
	}
}

// Source filters apply to stores that give up leaders or replicas.
var Source = []Filter{Up, NotBusy}

// LeaderTarget filters apply to stores that receive leaders.
var LeaderTarget = []Filter{Up, Reported, NotBusy}

// RegionTarget filters apply to stores that receive replicas.
var RegionTarget = []Filter{Up, Reported, NotBusy, HasSpace}

// Apply keeps the stores passing every filter; reasons lists why each
// dropped store was dropped.
func Apply(o *Options, stores []*cluster.StoreInfo, filters ...Filter) (kept []*cluster.StoreInfo, reasons []string) {
next:
	for _, s := range stores {
		for _, f := range filters {
			if ok, why := f(o, s); !ok {
				reasons = append(reasons, why)
				continue next
			}
		}
		kept = append(kept, s)
	}
	return kept, reasons
}
