// Package integration runs real regionkv stores against a real in-process
// scheduler (embedded etcd, the real checkers and balance schedulers), all
// over real gRPC on loopback, for the integration tests of the scheduler,
// the Multi-Raft store and the client SDK.
//
// Stores run through kvserver.Run, the function `regionkv server` runs, with
// small split sizes and short heartbeat intervals; schedulers through
// schedserver.Start. tests/cluster is the harness with a fake scheduler and
// a network under test control; this one trades that control for the real
// components end to end.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/regionkv/regionkv/client"
	kvconfig "github.com/regionkv/regionkv/kv/config"
	kvserver "github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/scheduler/api"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
	schedconfig "github.com/regionkv/regionkv/scheduler/config"
	schedserver "github.com/regionkv/regionkv/scheduler/server"
)

// Options configure a cluster.
type Options struct {
	Stores     int
	Schedulers int // members of the scheduler; 0 means 1
	Seed       uint64
	// Raftstore tweaks every store's raftstore settings (after the
	// harness's fast defaults).
	Raftstore func(*kvconfig.Raftstore)
	// Schedule tweaks the scheduler's schedule settings.
	Schedule func(*schedconfig.Schedule)
	// LogLevel for the components' logs (default: warn).
	LogLevel zap.AtomicLevel
	// StoresDir holds the stores' data dirs (default: the test's temp
	// dir, beside the scheduler's).
	StoresDir string
}

// Store is one store server.
type Store struct {
	Index int // 0-based position in Cluster.Stores
	Dir   string
	Addr  string
	ID    uint64
	Raft  *raftstore.Store

	cancel context.CancelFunc
	done   chan error
	up     bool
}

// Cluster is a real scheduler and real stores in one process.
type Cluster struct {
	t      testing.TB
	opts   Options
	log    *zap.Logger
	base   string
	Scheds []*schedserver.Server
	sCfgs  []schedconfig.Config
	Stores []*Store

	mu     sync.Mutex
	sc     schedclient.Client
	closed bool
}

// FastRaftstore is the harness's store settings: 25 ms ticks, heartbeats
// every 200 ms, and regions that split past 64 KiB into 32 KiB pieces.
func FastRaftstore() kvconfig.Raftstore {
	r := kvconfig.DefaultRaftstore()
	r.RaftBaseTickInterval = kvconfig.D(25 * time.Millisecond)
	r.StoreHeartbeatInterval = kvconfig.D(200 * time.Millisecond)
	r.RegionHeartbeatInterval = kvconfig.D(250 * time.Millisecond)
	r.RegionMaxSize, r.RegionSplitSize = 64<<10, 32<<10
	r.RegionMaxKeys, r.RegionSplitKeys = 100000, 50000
	return r
}

// New starts opts.Schedulers scheduler members and opts.Stores stores, and
// waits until the first region has its full replica count.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Schedulers == 0 {
		opts.Schedulers = 1
	}
	level := opts.LogLevel
	if level == (zap.AtomicLevel{}) {
		level = zap.NewAtomicLevelAt(zap.WarnLevel)
	}
	c := &Cluster{t: t, opts: opts, base: t.TempDir(),
		log: zaptest.NewLogger(t, zaptest.Level(level))}
	t.Cleanup(c.Close)
	c.startSchedulers()
	for range opts.Stores {
		c.AddStore()
	}
	want := min(opts.Stores, c.sCfgs[0].Schedule.MaxReplicas)
	c.WaitFor(30*time.Second, fmt.Sprintf("the first region with %d replicas and a leader", want), func() error {
		regions, err := c.SchedRegions()
		if err != nil {
			return err
		}
		if len(regions) != 1 || !Replicated(regions[0].Meta, want) || regions[0].Leader == nil {
			return fmt.Errorf("regions: %s", fmtRegions(regions))
		}
		return nil
	})
	return c
}

// Replicated reports whether r has exactly n peers, all voters: a learner
// counts in no quorum.
func Replicated(r *metapb.Region, n int) bool {
	if len(r.GetPeers()) != n {
		return false
	}
	for _, p := range r.Peers {
		if p.Role == metapb.PeerRole_Learner {
			return false
		}
	}
	return true
}

func (c *Cluster) startSchedulers() {
	n := c.opts.Schedulers
	addrs := freeAddrs(c.t, 2*n)
	var initial []string
	c.sCfgs = make([]schedconfig.Config, n)
	for i := range n {
		cfg := schedconfig.Default()
		cfg.Name = fmt.Sprintf("sched-%d", i+1)
		cfg.Addr = "127.0.0.1:0"
		cfg.DataDir = filepath.Join(c.base, cfg.Name)
		cfg.LeaderLease = schedconfig.D(2 * time.Second)
		cfg.Schedule.PatrolInterval = schedconfig.D(10 * time.Millisecond)
		cfg.Schedule.ScheduleInterval = schedconfig.D(50 * time.Millisecond)
		cfg.Schedule.StoreDisconnectTime = schedconfig.D(time.Second)
		cfg.Schedule.MaxStoreDownTime = schedconfig.D(3 * time.Second)
		cfg.Schedule.OperatorTimeout = schedconfig.D(30 * time.Second)
		if c.opts.Schedule != nil {
			c.opts.Schedule(&cfg.Schedule)
		}
		if n > 1 {
			cfg.PeerAddr, cfg.EtcdClientAddr = addrs[2*i], addrs[2*i+1]
			initial = append(initial, fmt.Sprintf("%s=http://%s", cfg.Name, addrs[2*i]))
		}
		c.sCfgs[i] = cfg
	}
	c.Scheds = make([]*schedserver.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c.sCfgs[i].InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() { // members of one etcd cluster wait for each other
			defer wg.Done()
			c.Scheds[i], errs[i] = schedserver.Start(c.sCfgs[i], c.log.With(zap.String("component", c.sCfgs[i].Name)),
				schedserver.WithSeed(c.opts.Seed+uint64(i)))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("start schedulers: %v", err)
	}
	c.SchedLeader()
}

// SchedAddrs lists the gRPC addresses of the running scheduler members.
func (c *Cluster) SchedAddrs() []string {
	var out []string
	for _, s := range c.Scheds {
		if s != nil {
			out = append(out, s.Addr())
		}
	}
	return out
}

// SchedLeader waits for a scheduler leader and returns it.
func (c *Cluster) SchedLeader() *schedserver.Server {
	c.t.Helper()
	var leader *schedserver.Server
	c.WaitFor(30*time.Second, "a scheduler leader", func() error {
		for _, s := range c.Scheds {
			if s != nil && s.IsLeader() {
				leader = s
				return nil
			}
		}
		return errors.New("no member leads")
	})
	return leader
}

// StopScheduler closes member s (its etcd member with it).
func (c *Cluster) StopScheduler(s *schedserver.Server) {
	for i, m := range c.Scheds {
		if m == s {
			c.Scheds[i] = nil
			s.Close()
		}
	}
}

// SchedClient is a scheduler client shared by the test's checks.
func (c *Cluster) SchedClient() schedclient.Client {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sc, err := schedclient.New(ctx, c.SchedAddrs(), schedclient.Options{Logger: c.log, MemberRefresh: 200 * time.Millisecond})
		if err != nil {
			c.t.Fatalf("scheduler client: %v", err)
		}
		c.sc = sc
	}
	return c.sc
}

// SchedRegions is the scheduler's region map, ordered by start key.
func (c *Cluster) SchedRegions() ([]*schedclient.Region, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.SchedClient().ScanRegions(ctx, nil, nil, 0)
}

// NewClient returns an SDK client of the cluster, closed at cleanup.
func (c *Cluster) NewClient(opts ...client.Option) *client.RawClient {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.NewRawClient(ctx, c.SchedAddrs(), opts...)
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// AddStore starts a new store with an empty data dir and returns it once
// it serves.
func (c *Cluster) AddStore() *Store {
	c.t.Helper()
	dir := c.base
	if c.opts.StoresDir != "" {
		dir = c.opts.StoresDir
	}
	s := &Store{Index: len(c.Stores), Dir: filepath.Join(dir, fmt.Sprintf("store-%d", len(c.Stores)+1)), Addr: "127.0.0.1:0"}
	c.Stores = append(c.Stores, s)
	c.startStore(s)
	return s
}

func (c *Cluster) startStore(s *Store) {
	c.t.Helper()
	cfg := kvconfig.Default()
	cfg.Addr, cfg.DataDir = s.Addr, s.Dir
	cfg.Scheduler = c.SchedAddrs()[0]
	cfg.Raftstore = FastRaftstore()
	if c.opts.Raftstore != nil {
		c.opts.Raftstore(&cfg.Raftstore)
	}
	if err := cfg.Validate(); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan kvserver.Started, 1)
	done := make(chan error, 1)
	log := c.log.With(zap.String("component", fmt.Sprintf("store-%d", s.Index+1)))
	go func() { done <- kvserver.Run(ctx, cfg, log, func(st kvserver.Started) { started <- st }) }()
	select {
	case st := <-started:
		s.Addr, s.ID, s.Raft = st.Addr, st.StoreID, st.Raft
		s.cancel, s.done, s.up = cancel, done, true
	case err := <-done:
		cancel()
		c.t.Fatalf("store %d did not start: %v", s.Index+1, err)
	case <-time.After(30 * time.Second):
		cancel()
		c.t.Fatalf("store %d did not start within 30s", s.Index+1)
	}
}

// StopStore shuts store s down cleanly.
func (c *Cluster) StopStore(s *Store) { c.stopStore(s, false) }

// CrashStore stops store s abruptly: its Raft store stops at once (the
// writes it has not made are lost, its waiting requests fail), with no
// drain of requests in flight; then its gRPC server and engines close.
// (tests/cluster fences a store's engines for a stricter crash, and the
// chaos tier kills real processes.)
func (c *Cluster) CrashStore(s *Store) { c.stopStore(s, true) }

func (c *Cluster) stopStore(s *Store, crash bool) {
	c.t.Helper()
	if !s.up {
		return
	}
	if crash {
		s.Raft.Stop()
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil && !crash {
			c.t.Errorf("store %d stopped with %v", s.Index+1, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("store %d did not stop within 30s", s.Index+1)
	}
	s.up = false
}

// RestartStore starts a stopped store again on its data dir and address.
func (c *Cluster) RestartStore(s *Store) {
	c.t.Helper()
	if s.up {
		return
	}
	c.startStore(s)
}

// Up reports whether s runs.
func (s *Store) Up() bool { return s.up }

// StoreByID returns the store with that ID.
func (c *Cluster) StoreByID(id uint64) *Store {
	for _, s := range c.Stores {
		if s.ID == id {
			return s
		}
	}
	c.t.Fatalf("no store %d", id)
	return nil
}

// Close stops every store, then the scheduler members.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	sc := c.sc
	c.mu.Unlock()
	if sc != nil {
		sc.Close()
	}
	var wg sync.WaitGroup
	for _, s := range c.Stores {
		if s.up {
			wg.Add(1)
			go func() { defer wg.Done(); c.stopStore(s, false) }()
		}
	}
	wg.Wait()
	for _, s := range c.Scheds {
		if s != nil {
			s.Close()
		}
	}
}

// WaitFor polls cond every 20 ms until it returns nil, failing the test
// with cond's last error after d.
func (c *Cluster) WaitFor(d time.Duration, what string, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s: %v", d, what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Operator asks the scheduler leader (over its HTTP API) for an operator.
func (c *Cluster) Operator(req api.OperatorRequest) error {
	b, _ := json.Marshal(req)
	url := "http://" + c.SchedLeader().Addr() + api.Prefix + "/operators"
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return fmt.Errorf("add operator %+v: %s: %s", req, resp.Status, strings.TrimSpace(body.String()))
	}
	return nil
}

// Split makes every key a region boundary, splitting through the leader
// of the region holding it (keys of one region in one split), and waits
// until the scheduler has seen the new regions.
func (c *Cluster) Split(keys ...[]byte) {
	c.t.Helper()
	c.WaitFor(30*time.Second, fmt.Sprintf("split at %q", keys), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		type todo struct {
			r    *schedclient.Region
			keys [][]byte
		}
		var splits []*todo
		byID := map[uint64]*todo{}
		for _, k := range keys {
			r, err := c.SchedClient().GetRegion(ctx, k)
			if err != nil {
				return err
			}
			if bytes.Equal(k, r.Meta.StartKey) {
				continue
			}
			if byID[r.Meta.Id] == nil {
				byID[r.Meta.Id] = &todo{r: r}
				splits = append(splits, byID[r.Meta.Id])
			}
			byID[r.Meta.Id].keys = append(byID[r.Meta.Id].keys, k)
		}
		if len(splits) == 0 {
			return nil
		}
		for _, sp := range splits {
			if sp.r.Leader == nil {
				return fmt.Errorf("region %d has no known leader", sp.r.Meta.Id)
			}
			sort.Slice(sp.keys, func(i, j int) bool { return bytes.Compare(sp.keys[i], sp.keys[j]) < 0 })
			if _, err := c.StoreByID(sp.r.Leader.StoreId).Raft.SplitRegion(ctx, sp.r.Meta.Id, sp.keys); err != nil {
				return err
			}
		}
		return errors.New("split proposed; waiting for the scheduler to see it")
	})
}

// CheckRegionMap compares the scheduler's region map with the stores':
// the scheduler's regions tile the key space; every peer it lists exists
// on its store with the same range and epoch; every region a running store
// holds is in the scheduler's map with that store among its peers; the
// scheduler's leader is a leader on its store. Stopped stores are skipped.
func (c *Cluster) CheckRegionMap() error {
	regions, err := c.SchedRegions()
	if err != nil {
		return err
	}
	var prevEnd []byte
	byID := map[uint64]*schedclient.Region{}
	for i, r := range regions {
		if (i == 0 && len(r.Meta.StartKey) != 0) || (i > 0 && !bytes.Equal(r.Meta.StartKey, prevEnd)) {
			return fmt.Errorf("scheduler's regions leave a gap or overlap before region %d: %s", r.Meta.Id, fmtRegions(regions))
		}
		prevEnd = r.Meta.EndKey
		byID[r.Meta.Id] = r
	}
	if len(regions) == 0 || len(prevEnd) != 0 {
		return fmt.Errorf("scheduler's regions do not reach the end of the key space: %s", fmtRegions(regions))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range c.Stores {
		if !s.up {
			continue
		}
		for _, local := range s.Raft.Regions() {
			r := byID[local.Id]
			if r == nil {
				return fmt.Errorf("store %d holds region %d [%q, %q) %v, unknown to the scheduler",
					s.ID, local.Id, local.StartKey, local.EndKey, local.RegionEpoch)
			}
			if !sameRegion(local, r.Meta) {
				return fmt.Errorf("region %d: store %d has %s, the scheduler %s", local.Id, s.ID, fmtRegion(local), fmtRegion(r.Meta))
			}
		}
	}
	for _, r := range regions {
		for _, p := range r.Meta.Peers {
			s := c.StoreByID(p.StoreId)
			if !s.up {
				continue
			}
			st, err := s.Raft.PeerStatus(ctx, r.Meta.Id)
			if err != nil {
				return fmt.Errorf("region %d: peer %d on store %d: %v", r.Meta.Id, p.Id, p.StoreId, err)
			}
			if st.PeerID != p.Id || !sameRegion(st.Region, r.Meta) {
				return fmt.Errorf("region %d: store %d has peer %d %s, the scheduler peer %d %s",
					r.Meta.Id, p.StoreId, st.PeerID, fmtRegion(st.Region), p.Id, fmtRegion(r.Meta))
			}
			if r.Leader != nil && r.Leader.Id == p.Id && !st.Leader {
				return fmt.Errorf("region %d: the scheduler names peer %d on store %d leader; it is not", r.Meta.Id, p.Id, p.StoreId)
			}
		}
	}
	return nil
}

// Counts returns, from the scheduler's map, each store's replica and
// leader counts.
func Counts(regions []*schedclient.Region) (replicas, leaders map[uint64]int) {
	replicas, leaders = map[uint64]int{}, map[uint64]int{}
	for _, r := range regions {
		for _, p := range r.Meta.Peers {
			replicas[p.StoreId]++
		}
		if r.Leader != nil {
			leaders[r.Leader.StoreId]++
		}
	}
	return replicas, leaders
}

func sameRegion(a, b *metapb.Region) bool {
	if a.Id != b.Id || !bytes.Equal(a.StartKey, b.StartKey) || !bytes.Equal(a.EndKey, b.EndKey) ||
		a.GetRegionEpoch().GetVersion() != b.GetRegionEpoch().GetVersion() ||
		a.GetRegionEpoch().GetConfVer() != b.GetRegionEpoch().GetConfVer() || len(a.Peers) != len(b.Peers) {
		return false
	}
	ids := func(r *metapb.Region) []uint64 {
		var out []uint64
		for _, p := range r.Peers {
			out = append(out, p.Id)
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	ai, bi := ids(a), ids(b)
	for i := range ai {
		if ai[i] != bi[i] {
			return false
		}
	}
	return true
}

func keyIn(k []byte, r *metapb.Region) bool {
	return bytes.Compare(k, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(k, r.EndKey) < 0)
}

func fmtRegion(r *metapb.Region) string {
	var peers []string
	for _, p := range r.Peers {
		peers = append(peers, fmt.Sprintf("%d@%d", p.Id, p.StoreId))
	}
	return fmt.Sprintf("{%d [%q,%q) v%d c%d peers %s}", r.Id, r.StartKey, r.EndKey,
		r.GetRegionEpoch().GetVersion(), r.GetRegionEpoch().GetConfVer(), strings.Join(peers, ","))
}

func fmtRegions(rs []*schedclient.Region) string {
	var out []string
	for _, r := range rs {
		s := fmtRegion(r.Meta)
		if r.Leader != nil {
			s += fmt.Sprintf("L%d", r.Leader.StoreId)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// freeAddrs reserves n distinct loopback ports (etcd peer URLs must be
// known before the members start).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
