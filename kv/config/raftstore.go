package config

import (
	"fmt"
	"time"

	"github.com/regionkv/regionkv/proto/common/units"
)

// Duration is a time.Duration written in TOML as "10s", "100ms" or "7d".
type Duration = units.Duration

// D wraps d.
func D(d time.Duration) Duration { return units.D(d) }

// Raftstore holds the Multi-Raft settings an operator tunes: the pace of
// Raft and of heartbeats to the scheduler, when regions split, when the
// Raft log is compacted, and hibernation. The rest of raftstore.Config keeps its defaults. The
// defaults here are raftstore.DefaultConfig's (kv/server's test checks
// that they agree).
type Raftstore struct {
	// RaftBaseTickInterval is one Raft tick; election and heartbeat
	// timeouts are counted in ticks.
	RaftBaseTickInterval Duration `toml:"raft-base-tick-interval"`
	// RaftElectionTimeoutTicks is a follower's election timeout (randomized
	// up to twice that) and RaftHeartbeatTicks a leader's heartbeat period,
	// in ticks. The leader lease lasts (election - 2) ticks.
	RaftElectionTimeoutTicks int `toml:"raft-election-timeout-ticks"`
	RaftHeartbeatTicks       int `toml:"raft-heartbeat-ticks"`
	// StorePoolSize is the number of raft workers stepping regions;
	// ApplyPoolSize the number of goroutines applying committed entries.
	StorePoolSize int `toml:"store-pool-size"`
	ApplyPoolSize int `toml:"apply-pool-size"`
	// StoreHeartbeatInterval and RegionHeartbeatInterval pace heartbeats
	// to the scheduler. A region also reports at once after a split, a
	// membership change or a leader change.
	StoreHeartbeatInterval  Duration `toml:"store-heartbeat-interval"`
	RegionHeartbeatInterval Duration `toml:"region-heartbeat-interval"`
	// A region past RegionMaxSize bytes or RegionMaxKeys keys splits into
	// pieces of RegionSplitSize bytes / RegionSplitKeys keys.
	RegionMaxSize   units.Bytes `toml:"region-max-size"`
	RegionSplitSize units.Bytes `toml:"region-split-size"`
	RegionMaxKeys   uint64      `toml:"region-max-keys"`
	RegionSplitKeys uint64      `toml:"region-split-keys"`
	// Raft log GC: every RaftLogGCTickInterval the leader compacts a
	// region's log once it holds more than RaftLogGCCountLimit entries or
	// RaftLogGCSizeLimit bytes past the last compaction (up to what every
	// live follower has).
	RaftLogGCTickInterval Duration    `toml:"raft-log-gc-tick-interval"`
	RaftLogGCCountLimit   uint64      `toml:"raft-log-gc-count-limit"`
	RaftLogGCSizeLimit    units.Bytes `toml:"raft-log-gc-size-limit"`
	// HibernateRegions lets idle regions stop ticking.
	HibernateRegions bool `toml:"hibernate-regions"`
	// ReserveSpace: while the data dir's file system has less free, the
	// store refuses client writes with DiskFull (reads go on) until space
	// is freed; "0" turns the check off.
	ReserveSpace units.Bytes `toml:"reserve-space"`
}

// DefaultRaftstore returns raftstore.DefaultConfig's values.
func DefaultRaftstore() Raftstore {
	return Raftstore{
		RaftBaseTickInterval:     D(100 * time.Millisecond),
		RaftElectionTimeoutTicks: 10,
		RaftHeartbeatTicks:       2,
		StorePoolSize:            2,
		ApplyPoolSize:            1,
		StoreHeartbeatInterval:   D(10 * time.Second),
		RegionHeartbeatInterval:  D(60 * time.Second),
		RegionMaxSize:            144 << 20,
		RegionSplitSize:          96 << 20,
		RegionMaxKeys:            1440000,
		RegionSplitKeys:          960000,
		RaftLogGCTickInterval:    D(time.Second),
		RaftLogGCCountLimit:      10000,
		RaftLogGCSizeLimit:       64 * units.MiB,
		HibernateRegions:         true,
		ReserveSpace:             256 * units.MiB,
	}
}

// Validate reports the first problem with r.
func (r *Raftstore) Validate() error {
	if r.RaftBaseTickInterval.Duration <= 0 {
		return fmt.Errorf("%w: raftstore.raft-base-tick-interval must be positive", ErrInvalid)
	}
	if r.RaftHeartbeatTicks <= 0 || r.RaftElectionTimeoutTicks <= r.RaftHeartbeatTicks {
		return fmt.Errorf("%w: raftstore: need 0 < raft-heartbeat-ticks (%d) < raft-election-timeout-ticks (%d)",
			ErrInvalid, r.RaftHeartbeatTicks, r.RaftElectionTimeoutTicks)
	}
	if r.RaftElectionTimeoutTicks < 4 {
		return fmt.Errorf("%w: raftstore.raft-election-timeout-ticks %d: the leader lease needs at least 4",
			ErrInvalid, r.RaftElectionTimeoutTicks)
	}
	if r.StorePoolSize <= 0 || r.ApplyPoolSize <= 0 {
		return fmt.Errorf("%w: raftstore: store-pool-size (%d) and apply-pool-size (%d) must be positive",
			ErrInvalid, r.StorePoolSize, r.ApplyPoolSize)
	}
	if r.StoreHeartbeatInterval.Duration <= 0 || r.RegionHeartbeatInterval.Duration <= 0 {
		return fmt.Errorf("%w: raftstore heartbeat intervals must be positive", ErrInvalid)
	}
	if r.RegionHeartbeatInterval.Duration < r.RaftBaseTickInterval.Duration {
		return fmt.Errorf("%w: raftstore.region-heartbeat-interval %s is shorter than one tick (%s)",
			ErrInvalid, r.RegionHeartbeatInterval, r.RaftBaseTickInterval)
	}
	if r.RegionSplitSize == 0 || r.RegionMaxSize < r.RegionSplitSize {
		return fmt.Errorf("%w: raftstore: need 0 < region-split-size (%s) <= region-max-size (%s)",
			ErrInvalid, r.RegionSplitSize, r.RegionMaxSize)
	}
	if r.RegionSplitKeys == 0 || r.RegionMaxKeys < r.RegionSplitKeys {
		return fmt.Errorf("%w: raftstore: need 0 < region-split-keys (%d) <= region-max-keys (%d)",
			ErrInvalid, r.RegionSplitKeys, r.RegionMaxKeys)
	}
	if r.RaftLogGCTickInterval.Duration < r.RaftBaseTickInterval.Duration {
		return fmt.Errorf("%w: raftstore.raft-log-gc-tick-interval %s is shorter than one tick (%s)",
			ErrInvalid, r.RaftLogGCTickInterval, r.RaftBaseTickInterval)
	}
	if r.RaftLogGCCountLimit == 0 || r.RaftLogGCSizeLimit == 0 {
		return fmt.Errorf("%w: raftstore: raft-log-gc-count-limit (%d) and raft-log-gc-size-limit (%s) must be positive",
			ErrInvalid, r.RaftLogGCCountLimit, r.RaftLogGCSizeLimit)
	}
	return nil
}
