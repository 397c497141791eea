package raftstore

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Config configures a Store. Zero fields take the defaults of
// DefaultConfig; Validate reports what cannot work.
type Config struct {
	// StoreAddr is the address other stores and clients reach this store at;
	// it is registered with the scheduler.
	StoreAddr string
	// Registered with the scheduler too, for operators and for metrics
	// discovery: the store's HTTP status address, its build, and when the
	// process started.
	StatusAddr     string
	Version        string
	GitHash        string
	StartTimestamp int64 // Unix seconds

	// RaftWorkers is the number of goroutines driving peers (the batch
	// system); ApplyWorkers the number applying committed entries.
	RaftWorkers  int
	ApplyWorkers int

	// RaftBaseTickInterval is the period of one Raft tick.
	RaftBaseTickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are in base ticks.
	ElectionTicks  int
	HeartbeatTicks int
	// MaxSizePerMsg bounds the entry bytes of one MsgApp; MaxInflightMsgs
	// the MsgApps in flight to one follower.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int

	// MailboxCapacity bounds the raft messages and client commands queued
	// for one region; past it, commands get ServerIsBusy and raft messages
	// are dropped (Raft retransmits).
	MailboxCapacity int
	// MaxRoundPeers bounds the peers one worker takes in one round.
	MaxRoundPeers int

	// RaftLogGCTickInterval is how often (in base ticks) the leader checks
	// whether to compact the log. RaftLogGCCountLimit and
	// RaftLogGCSizeLimit trigger a compaction: the log between the truncated
	// and the applied index holds more entries / bytes than that.
	RaftLogGCTickInterval int
	RaftLogGCCountLimit   uint64
	RaftLogGCSizeLimit    uint64

	// EntryCacheLimit bounds the entries of the recent log tail kept in
	// memory per peer for replication.
	EntryCacheLimit int

	// SnapChunkSize is the data bytes of one snapshot chunk on the wire.
	SnapChunkSize int

	// LeaseEnabled lets a leader serve reads locally while its lease
	// holds; otherwise every read takes a ReadIndex round.
	LeaseEnabled bool

	// ReadTimeoutTicks fails a read that waited this many base ticks for a
	// read index (the request or its answer may have been lost).
	ReadTimeoutTicks int

	// StoreHeartbeatInterval and RegionHeartbeatTicks pace heartbeats to
	// the scheduler.
	StoreHeartbeatInterval time.Duration
	RegionHeartbeatTicks   int

	// Seed seeds the peers' election timeout randomization (with the peer
	// ID), so that runs can be replayed.
	Seed uint64

	// Split (split_check.go): a region past RegionMaxSize bytes or
	// RegionMaxKeys keys splits into pieces of RegionSplitSize /
	// RegionSplitKeys. A leader checks every SplitCheckTicks once its size
	// estimate moved by RegionSplitSize/16; one check yields at most
	// MaxSplitKeys split keys.
	RegionMaxSize   uint64
	RegionSplitSize uint64
	RegionMaxKeys   uint64
	RegionSplitKeys uint64
	SplitCheckTicks int
	MaxSplitKeys    int

	// LoadSplit splits regions that serve too many requests or bytes
	// (load_split.go). A zero value takes DefaultLoadSplitConfig; zero
	// fields but the thresholds take its values.
	LoadSplit LoadSplitConfig

	// MaxPeerDownDuration: a follower silent for longer is reported down
	// in region heartbeats.
	MaxPeerDownDuration time.Duration
	// MaxLeaderMissingTicks: a peer without a leader for this many ticks
	// asks the scheduler whether it was removed (destroy.go).
	MaxLeaderMissingTicks int

	// Hibernation (hibernate.go): a region idle for HibernateIdleTicks
	// stops ticking. StoreProbeInterval paces the store-level probes that
	// wake the regions whose leader's store went silent for
	// StoreDeadDuration.
	HibernateRegions   bool
	HibernateIdleTicks int
	StoreProbeInterval time.Duration
	StoreDeadDuration  time.Duration

	// ReserveSpace: while the data dir's file system has less than this
	// many bytes free, the store refuses client writes (DiskFull), and so
	// do the leaders of regions where too few voters have room (disk.go).
	// Zero: no reserve. DiskAvailable, when set, replaces the file
	// system's count of free bytes (tests).
	ReserveSpace  uint64
	DiskAvailable func(dir string) (uint64, error)

	// Logger receives structured logs; nil discards them.
	Logger *zap.Logger
	// Metrics receive the store's Prometheus metrics; nil: unregistered ones.
	Metrics *StoreMetrics
}

func (c *Config) seed() uint64 { return c.Seed }

// DefaultConfig returns settings that work on one machine.
func DefaultConfig() Config {
	return Config{
		RaftWorkers:            2,
		ApplyWorkers:           1,
		RaftBaseTickInterval:   100 * time.Millisecond,
		ElectionTicks:          10,
		HeartbeatTicks:         2,
		MaxSizePerMsg:          1 << 20,
		MaxInflightMsgs:        256,
		MailboxCapacity:        4096,
		MaxRoundPeers:          256,
		RaftLogGCTickInterval:  10,
		RaftLogGCCountLimit:    10000,
		RaftLogGCSizeLimit:     64 << 20,
		EntryCacheLimit:        4096,
		SnapChunkSize:          1 << 20,
		LeaseEnabled:           true,
		ReadTimeoutTicks:       30,
		StoreHeartbeatInterval: 10 * time.Second,
		RegionHeartbeatTicks:   600, // 60 s
		RegionMaxSize:          144 << 20,
		RegionSplitSize:        96 << 20,
		RegionMaxKeys:          1440000,
		RegionSplitKeys:        960000,
		SplitCheckTicks:        100,
		MaxSplitKeys:           16,
		MaxPeerDownDuration:    5 * time.Minute,
		MaxLeaderMissingTicks:  1200, // 2 min
		HibernateRegions:       true,
		HibernateIdleTicks:     20,
		StoreProbeInterval:     time.Second,
		StoreDeadDuration:      4 * time.Second,
		LoadSplit:              DefaultLoadSplitConfig(),
		ReserveSpace:           256 << 20,
	}
}

// fill replaces zero fields by defaults.
func (c *Config) fill() {
	d := DefaultConfig()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.RaftWorkers, d.RaftWorkers)
	setInt(&c.ApplyWorkers, d.ApplyWorkers)
	setInt(&c.ElectionTicks, d.ElectionTicks)
	setInt(&c.HeartbeatTicks, d.HeartbeatTicks)
	setInt(&c.MaxInflightMsgs, d.MaxInflightMsgs)
	setInt(&c.MailboxCapacity, d.MailboxCapacity)
	setInt(&c.MaxRoundPeers, d.MaxRoundPeers)
	setInt(&c.RaftLogGCTickInterval, d.RaftLogGCTickInterval)
	setInt(&c.EntryCacheLimit, d.EntryCacheLimit)
	setInt(&c.SnapChunkSize, d.SnapChunkSize)
	setInt(&c.ReadTimeoutTicks, d.ReadTimeoutTicks)
	setInt(&c.RegionHeartbeatTicks, d.RegionHeartbeatTicks)
	setInt(&c.SplitCheckTicks, d.SplitCheckTicks)
	setInt(&c.MaxSplitKeys, d.MaxSplitKeys)
	setInt(&c.MaxLeaderMissingTicks, d.MaxLeaderMissingTicks)
	setInt(&c.HibernateIdleTicks, d.HibernateIdleTicks)
	setU64 := func(v *uint64, def uint64) {
		if *v == 0 {
			*v = def
		}
	}
	setU64(&c.RegionMaxSize, d.RegionMaxSize)
	setU64(&c.RegionSplitSize, d.RegionSplitSize)
	setU64(&c.RegionMaxKeys, d.RegionMaxKeys)
	setU64(&c.RegionSplitKeys, d.RegionSplitKeys)
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.MaxPeerDownDuration, d.MaxPeerDownDuration)
	setDur(&c.StoreProbeInterval, d.StoreProbeInterval)
	setDur(&c.StoreDeadDuration, d.StoreDeadDuration)
	if c.RaftBaseTickInterval == 0 {
		c.RaftBaseTickInterval = d.RaftBaseTickInterval
	}
	if c.StoreHeartbeatInterval == 0 {
		c.StoreHeartbeatInterval = d.StoreHeartbeatInterval
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = d.MaxSizePerMsg
	}
	if c.RaftLogGCCountLimit == 0 {
		c.RaftLogGCCountLimit = d.RaftLogGCCountLimit
	}
	if c.RaftLogGCSizeLimit == 0 {
		c.RaftLogGCSizeLimit = d.RaftLogGCSizeLimit
	}
	if c.LoadSplit == (LoadSplitConfig{}) {
		c.LoadSplit = d.LoadSplit
	}
	ls, dl := &c.LoadSplit, d.LoadSplit
	setInt(&ls.DetectTimes, dl.DetectTimes)
	setInt(&ls.SampleNum, dl.SampleNum)
	setDur(&ls.Window, dl.Window)
	if ls.BalanceScore == 0 {
		ls.BalanceScore = dl.BalanceScore
	}
	if ls.ContainedScore == 0 {
		ls.ContainedScore = dl.ContainedScore
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = NewStoreMetrics(nil)
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.ElectionTicks <= c.HeartbeatTicks {
		return fmt.Errorf("%w: election ticks %d must exceed heartbeat ticks %d", ErrInvalidConfig, c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.ElectionTicks < 4 && c.LeaseEnabled {
		return fmt.Errorf("%w: a lease needs at least 4 election ticks, got %d", ErrInvalidConfig, c.ElectionTicks)
	}
	if c.RaftWorkers <= 0 || c.ApplyWorkers <= 0 {
		return fmt.Errorf("%w: workers must be positive", ErrInvalidConfig)
	}
	return c.LoadSplit.Validate()
}

// splitCheckDiff is how far the size estimate must move before a leader
// measures its region again.
func (c *Config) splitCheckDiff() uint64 { return max(c.RegionSplitSize/16, 1) }

// leaseDuration is how long after a quorum acknowledged a message sent at
// time t the leader may assume no other leader exists. A follower that
// heard from us ignores votes for ElectionTicks of its ticks (check-quorum).
// Its ticks may come late but never closer together than half an interval
// (peer.maybeTick), and the first may come at once after our message, so
// it refuses votes for at least (ElectionTicks-1) half-intervals after it
// stepped the message, which was after t. The 10% margin covers clock rate
// differences. With the defaults (10 ticks of 100 ms) that is 405 ms.
func (c *Config) leaseDuration() time.Duration {
	return time.Duration(c.ElectionTicks-1) * c.RaftBaseTickInterval / 2 * 9 / 10
}

// storeMeta is the store record registered with the scheduler.
func (c *Config) storeMeta(id uint64) *metapb.Store {
	return &metapb.Store{Id: id, Address: c.StoreAddr, PeerAddress: c.StoreAddr, StatusAddress: c.StatusAddr,
		Version: c.Version, GitHash: c.GitHash, StartTimestamp: c.StartTimestamp}
}
