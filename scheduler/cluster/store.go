package cluster

import (
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// StoreState is the scheduler's view of a store. Up, Offline and Tombstone
// are persisted (metapb.StoreState); Disconnected and Down are derived from
// the time since the last heartbeat.
type StoreState int

// Store states, in increasing order of trouble; Offline and Tombstone win
// over the heartbeat-derived ones.
const (
	StateUp StoreState = iota
	StateDisconnected
	StateDown
	StateOffline
	StateTombstone
)

var stateNames = [...]string{"Up", "Disconnected", "Down", "Offline", "Tombstone"}

func (s StoreState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// StoreInfo is an immutable snapshot of one store: its meta, last stats and
// the scheduler's counts of its regions. Updates make a new StoreInfo.
type StoreInfo struct {
	Meta  *metapb.Store
	Stats *pdpb.StoreStats
	// LastHeartbeat is the last store heartbeat, or when this leader first
	// learned of the store, whichever is later: a new leader must not think
	// every store is down just because it has not heard from them yet.
	LastHeartbeat time.Time
	// Reported is set once the store talks to this model (registers or
	// heartbeats). A store loaded from storage by a new leader has no
	// stats yet (zero capacity, looks empty) and may have been dead for
	// long: until it reports, it is no target for replicas or leaders,
	// and it shows Disconnected.
	Reported     bool
	LeaderWeight float64
	RegionWeight float64

	LeaderCount  int
	RegionCount  int
	RegionSize   int64 // MiB, each region counted as at least 1
	PendingPeers int
}

func newStoreInfo(meta *metapb.Store, now time.Time) *StoreInfo {
	return &StoreInfo{Meta: meta, Stats: &pdpb.StoreStats{}, LastHeartbeat: now, LeaderWeight: 1, RegionWeight: 1}
}

func (s *StoreInfo) clone() *StoreInfo {
	c := *s
	return &c
}

// ID is the store ID.
func (s *StoreInfo) ID() uint64 { return s.Meta.GetId() }

// Thresholds are the durations that derive Disconnected and Down.
type Thresholds struct {
	Disconnect, Down time.Duration
}

// State derives the store's state at now.
func (s *StoreInfo) State(now time.Time, th Thresholds) StoreState {
	switch s.Meta.GetState() {
	case metapb.StoreState_Tombstone:
		return StateTombstone
	case metapb.StoreState_Offline:
		return StateOffline
	}
	since := now.Sub(s.LastHeartbeat)
	switch {
	case since >= th.Down:
		return StateDown
	case since >= th.Disconnect, !s.Reported:
		return StateDisconnected
	}
	return StateUp
}

// Alive reports whether the store was heard from within the disconnect
// threshold (a Tombstone is never alive): its peers can be counted on to
// acknowledge writes. Unlike State, an Offline store can be alive.
func (s *StoreInfo) Alive(now time.Time, th Thresholds) bool {
	return s.Meta.GetState() != metapb.StoreState_Tombstone && now.Sub(s.LastHeartbeat) < th.Disconnect
}

// IsBusy reports the store's own busy flag.
func (s *StoreInfo) IsBusy() bool { return s.Stats.GetIsBusy() }

// UsedRatio is the fraction of capacity in use; 0 when capacity is unknown.
func (s *StoreInfo) UsedRatio() float64 {
	c := s.Stats.GetCapacity()
	if c == 0 {
		return 0
	}
	return 1 - float64(s.Stats.GetAvailable())/float64(c)
}

// LeaderScore is the leader count divided by the leader weight, with delta
// leaders added (the influence of pending operators).
func (s *StoreInfo) LeaderScore(delta int) float64 {
	return float64(s.LeaderCount+delta) / nonZero(s.LeaderWeight)
}

// RegionScore is the region size (MiB) divided by the region weight, with
// delta MiB added.
func (s *StoreInfo) RegionScore(delta int64) float64 {
	return float64(s.RegionSize+delta) / nonZero(s.RegionWeight)
}

func nonZero(w float64) float64 {
	if w <= 0 {
		return 1e-6
	}
	return w
}
