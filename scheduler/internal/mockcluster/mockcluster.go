// Package mockcluster builds small clusters from tables for the tests of
// checkers and schedulers: stores in given states, regions with given peers.
package mockcluster

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/hot"
)

// Now is the mock clock's fixed time.
var Now = time.Unix(1_000_000, 0)

// Thresholds used by Options.
var Thresholds = cluster.Thresholds{Disconnect: 20 * time.Second, Down: 30 * time.Minute}

// Store describes one store.
type Store struct {
	ID uint64
	// State: "up" (default), "disconnected", "down", "offline", "busy",
	// "lowspace", "unreported" (loaded from storage by a new leader, no
	// heartbeat since).
	State string
}

// Region describes one region: peers on Stores, leader on the first.
type Region struct {
	ID     uint64
	Stores []uint64
	// SizeMiB defaults to 1.
	SizeMiB uint64
	// Down and Pending list stores whose peers the leader reports so; Down
	// peers are reported down for an hour, RecentlyDown ones for a minute
	// (short of max-store-down-time: not yet replaced, but not healthy).
	Down, RecentlyDown, Pending []uint64
	// Learners lists stores whose peers are learners.
	Learners []uint64
	// Load is the region's load (rates per second); a region with one is
	// hot for each kind with a rate at or above the hot minimum.
	Load hot.Loads
}

// Cluster is a cluster.Cluster with an ID allocator, operator set and
// load statistics.
type Cluster struct {
	*cluster.Cluster
	nextID uint64
	Busy   map[uint64]bool // regions with an operator
	Hot    *hot.Cache
}

// New builds a cluster from stores and regions.
func New(stores []Store, regions []Region) *Cluster {
	now := func() time.Time { return Now }
	c := &Cluster{Cluster: cluster.New(now), nextID: 1000, Busy: map[uint64]bool{}, Hot: hot.NewCache(nil, now)}
	for _, s := range stores {
		meta := &metapb.Store{Id: s.ID, Address: fmt.Sprintf("store-%d", s.ID)}
		if s.State == "unreported" {
			meta.State = metapb.StoreState_Up
			c.LoadStore(meta)
			continue
		}
		if _, err := c.PutStore(meta); err != nil {
			panic(err)
		}
		stats := &pdpb.StoreStats{StoreId: s.ID, Capacity: 100, Available: 60}
		switch s.State {
		case "busy":
			stats.IsBusy = true
		case "lowspace":
			stats.Available = 5
		}
		if _, err := c.HandleStoreHeartbeat(stats); err != nil {
			panic(err)
		}
		if s.State == "offline" {
			if _, err := c.SetStoreState(s.ID, metapb.StoreState_Offline); err != nil {
				panic(err)
			}
		}
	}
	for _, r := range regions {
		c.AddRegion(r)
	}
	// Age the heartbeats of disconnected and down stores by re-loading them
	// with an old last-heartbeat time.
	for _, s := range stores {
		var age time.Duration
		switch s.State {
		case "disconnected":
			age = Thresholds.Disconnect
		case "down":
			age = Thresholds.Down
		}
		if age > 0 {
			c.SetLastHeartbeat(s.ID, Now.Add(-age))
		}
	}
	return c
}

// AddRegion installs r (keys derived from its ID so regions don't overlap).
func (c *Cluster) AddRegion(r Region) {
	meta := &metapb.Region{Id: r.ID, StartKey: []byte(fmt.Sprintf("k%06d", r.ID)),
		EndKey: []byte(fmt.Sprintf("k%06d~", r.ID)), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	req := &pdpb.RegionHeartbeatRequest{Region: meta, ApproximateSize: max(r.SizeMiB, 1) << 20}
	for i, s := range r.Stores {
		p := &metapb.Peer{Id: r.ID*10 + uint64(i), StoreId: s}
		for _, l := range r.Learners {
			if l == s {
				p.Role = metapb.PeerRole_Learner
			}
		}
		meta.Peers = append(meta.Peers, p)
		if i == 0 {
			req.Leader = p
		}
		for _, d := range r.Down {
			if d == s {
				req.DownPeers = append(req.DownPeers, &pdpb.PeerStats{Peer: p, DownSeconds: 3600})
			}
		}
		for _, d := range r.RecentlyDown {
			if d == s {
				req.DownPeers = append(req.DownPeers, &pdpb.PeerStats{Peer: p, DownSeconds: 60})
			}
		}
		for _, d := range r.Pending {
			if d == s {
				req.PendingPeers = append(req.PendingPeers, p)
			}
		}
	}
	if _, err := c.PutRegion(cluster.RegionFromHeartbeat(req)); err != nil {
		panic(err)
	}
	if r.Load != (hot.Loads{}) {
		// As many minutes of that load as make the region hot.
		smp := hot.Sample{RegionID: r.ID, LeaderStore: req.Leader.GetStoreId(), StartKey: meta.StartKey, EndKey: meta.EndKey,
			Interval: time.Minute}
		for _, p := range meta.Peers {
			smp.Stores = append(smp.Stores, p.StoreId)
		}
		for k := range r.Load {
			for d := range r.Load[k] {
				smp.Counts[k][d] = uint64(r.Load[k][d]*60 + 0.5)
			}
		}
		for range hot.DefaultConfig().HitsThreshold {
			c.Hot.Observe(smp)
		}
	}
}

// RegionLoads implements the schedulers' view of the load statistics.
func (c *Cluster) RegionLoads() []hot.RegionStat { return c.Hot.Regions() }

// AllocID implements the checkers' and schedulers' ID allocation.
func (c *Cluster) AllocID() (uint64, error) {
	c.nextID++
	return c.nextID, nil
}

// HasOperator reports whether region is marked busy.
func (c *Cluster) HasOperator(id uint64) bool { return c.Busy[id] }

// Options are the filter options at the mock clock.
func Options(maxReplicas int) *filter.Options {
	return &filter.Options{Now: Now, Thresholds: Thresholds, MaxReplicas: maxReplicas, LowSpaceRatio: 0.8, Tolerance: 0.05}
}

// Rand is a fixed-seed random source.
func Rand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
