// Package cluster runs N regionkv stores in one process for tests: real
// engines in temp dirs, a shared in-memory scheduler, an in-process network
// with fault filters, crash and restart from disk, and clients that route
// by region and retry region errors.
//
// # Crash model
//
// Crash(i) is kill -9 of store i, not power loss. From the instant of the
// crash the store writes nothing more to either engine and sends nothing;
// writes its engines already committed survive (badger's writes go to
// mmap'ed files that outlive the process, see kv/engine/sync.go), and
// everything in memory is lost: queued messages, unpersisted Readys,
// entries committed but not applied, pending proposals (their clients get
// an undetermined error), half-received snapshots. The engines are then
// closed (which only flushes what was committed) and reopened by Restart.
//
// PowerLoss(i) (with Options.PowerLoss) is a crash that also loses every kv
// write not made durable: see powerloss.go. The raft DB syncs every commit,
// so it keeps everything; the kv DB rolls back to its last durable point.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/raftstorage"
	"github.com/regionkv/regionkv/raftstore/schedulertest"
)

// FirstRegionID is the region every cluster starts with.
const FirstRegionID = 2

// Options configure a cluster.
type Options struct {
	Stores int
	Seed   uint64
	// Tweak adjusts the raftstore config of every store.
	Tweak  func(*raftstore.Config)
	Logger *zap.Logger
	// PowerLoss checkpoints each store's kv DB at every durable point, so
	// that Cluster.PowerLoss can roll it back (costs a kv scan per sync).
	PowerLoss bool
	// RegionStart and RegionEnd narrow the first region (default: the
	// whole key space), for tests of region bounds.
	RegionStart, RegionEnd []byte
}

// Node is one store of the cluster.
type Node struct {
	ID      uint64
	Dir     string
	Engines *engine.Engines
	Store   *raftstore.Store
	Server  *server.Server
	up      bool
	ckpt    checkpoint // with Options.PowerLoss
	// fenced makes every write to the engines fail: the store crashed.
	fenced atomic.Bool
}

// errCrashed is what a crashed store's engines answer.
var errCrashed = errors.New("cluster: store crashed")

// Cluster is N stores in one process.
type Cluster struct {
	t      testing.TB
	opts   Options
	Sched  *schedulertest.Fake
	Net    *Network
	Nodes  []*Node
	region *metapb.Region
	cfg    raftstore.Config

	mu         sync.Mutex
	leaderHint uint64 // store id
}

// TestConfig is the raftstore config tests use: fast ticks, tiny log GC.
func TestConfig() raftstore.Config {
	c := raftstore.DefaultConfig()
	c.RaftBaseTickInterval = 20 * time.Millisecond
	c.ElectionTicks = 10
	c.HeartbeatTicks = 2
	c.RaftLogGCTickInterval = 2
	c.RaftLogGCCountLimit = 100
	c.RaftLogGCSizeLimit = 1 << 20
	c.ReadTimeoutTicks = 25
	c.RegionHeartbeatTicks = 10
	c.StoreHeartbeatInterval = time.Second
	return c
}

// New starts a cluster of opts.Stores stores holding the first region, one
// peer on each (store i has ID i, peer 10+i).
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	c := &Cluster{t: t, opts: opts, Sched: schedulertest.New(1, 1000), Net: NewNetwork(opts.Seed)}
	c.cfg = TestConfig()
	c.cfg.Seed = opts.Seed
	c.cfg.Logger = opts.Logger
	if opts.Tweak != nil {
		opts.Tweak(&c.cfg)
	}
	region := &metapb.Region{Id: FirstRegionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		StartKey: opts.RegionStart, EndKey: opts.RegionEnd}
	for i := 1; i <= opts.Stores; i++ {
		region.Peers = append(region.Peers, &metapb.Peer{Id: uint64(10 + i), StoreId: uint64(i)})
	}
	c.region = region
	base := t.TempDir()
	for i := 1; i <= opts.Stores; i++ {
		n := &Node{ID: uint64(i), Dir: filepath.Join(base, fmt.Sprintf("store%d", i))}
		e, err := c.openEngines(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := raftstore.BootstrapStore(e, 1, n.ID); err != nil {
			t.Fatal(err)
		}
		if err := raftstore.PrepareBootstrapRegion(e, region); err != nil {
			t.Fatal(err)
		}
		n.Engines = e
		c.Nodes = append(c.Nodes, n)
	}
	c.Sched.SetBootstrapped()
	for _, n := range c.Nodes {
		c.startNode(n)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// StoreIDs lists every store.
func (c *Cluster) StoreIDs() []uint64 {
	ids := make([]uint64, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.ID
	}
	return ids
}

func (c *Cluster) node(id uint64) *Node { return c.Nodes[id-1] }

func (c *Cluster) startNode(n *Node) {
	c.t.Helper()
	n.fenced.Store(false)
	if n.Engines == nil {
		e, err := c.openEngines(n)
		if err != nil {
			c.t.Fatal(err)
		}
		n.Engines = e
	}
	cfg := c.cfg
	cfg.StoreAddr = fmt.Sprintf("store-%d", n.ID)
	s, err := raftstore.NewStore(cfg, n.Engines, c.Sched.ForStore(n.ID), c.Net.Transport(n.ID))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	scfg := config.Default()
	c.mu.Lock()
	n.Store = s
	n.Server = server.New(scfg, raftstorage.New(s), nil)
	n.up = true
	c.mu.Unlock()
	c.Net.Attach(n.ID, s)
}

// server returns store id's server, or nil if it is down.
func (c *Cluster) server(id uint64) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(id)
	if !n.up {
		return nil
	}
	return n.Server
}

// Crash kills store id (see the crash model above).
func (c *Cluster) Crash(id uint64) {
	n := c.node(id)
	c.mu.Lock()
	if !n.up {
		c.mu.Unlock()
		return
	}
	n.up = false
	c.mu.Unlock()
	// As kill -9: nothing more reaches its engines or leaves it (the
	// network drops a detached store's messages both ways); then the
	// store stops, its workers failing on the fenced engines.
	n.fenced.Store(true)
	c.Net.Attach(id, nil)
	n.Store.Stop()
	if err := n.Engines.Close(); err != nil {
		c.t.Errorf("close engines of store %d: %v", id, err)
	}
	n.Engines = nil
}

// Restart starts a crashed or stopped store from its data dir.
func (c *Cluster) Restart(id uint64) {
	n := c.node(id)
	if n.up {
		return
	}
	c.startNode(n)
}

// Up reports whether store id runs.
func (c *Cluster) Up(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node(id).up
}

// Shutdown stops every store and the network.
func (c *Cluster) Shutdown() {
	for _, n := range c.Nodes {
		c.mu.Lock()
		up := n.up
		n.up = false
		c.mu.Unlock()
		if !up {
			continue
		}
		c.Net.Attach(n.ID, nil)
		n.Store.Stop()
	}
	c.Net.Close()
	for _, n := range c.Nodes {
		if n.Engines != nil {
			_ = n.Engines.Close()
			n.Engines = nil
		}
	}
}

// Leader returns the store whose peer of the first region is leader with
// the highest term, waiting up to timeout.
func (c *Cluster) Leader(timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var best, bestTerm uint64
		for _, n := range c.Nodes {
			if !c.Up(n.ID) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := n.Store.PeerStatus(ctx, FirstRegionID)
			cancel()
			if err == nil && st.Leader && st.Term > bestTerm {
				best, bestTerm = n.ID, st.Term
			}
		}
		if best != 0 {
			return best, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("cluster: no leader within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling raft state; nothing to wait on
	}
}

// Status returns the first region's peer status on store id.
func (c *Cluster) Status(id uint64) (raftstore.PeerStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.mu.Lock()
	n := c.node(id)
	up, s := n.up, n.Store
	c.mu.Unlock()
	if !up {
		return raftstore.PeerStatus{}, fmt.Errorf("store %d is down", id)
	}
	return s.PeerStatus(ctx, FirstRegionID)
}

// SnapFiles lists the files in store id's snapshot dir.
func (c *Cluster) SnapFiles(id uint64) []string {
	ents, _ := os.ReadDir(filepath.Join(c.node(id).Dir, "snap"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
