package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/client"
	"github.com/regionkv/regionkv/scheduler/config"
)

// simCluster is a set of simulated stores that speak pdpb through
// scheduler/client: each store heartbeats itself and the regions it leads,
// and applies the operator steps that come back, the way raftstore will.
// Region state lives in one place (the "truth"), standing in for Raft.
type simCluster struct {
	t *testing.T

	mu      sync.Mutex
	regions map[uint64]*simRegion
	stores  map[uint64]*simStore
	// responses records every heartbeat response received, in order.
	responses []*pdpb.RegionHeartbeatResponse

	ctx    context.Context // ends with stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type simRegion struct {
	meta   *metapb.Region
	leader *metapb.Peer
	term   uint64
}

type simStore struct {
	id     uint64
	alive  bool
	diedAt time.Time
	c      client.Client
}

func newSimCluster(t *testing.T, addr string, storeIDs ...uint64) *simCluster {
	sc := &simCluster{t: t, regions: map[uint64]*simRegion{}, stores: map[uint64]*simStore{}}
	ctx, cancel := context.WithCancel(context.Background())
	sc.ctx, sc.cancel = ctx, cancel
	for _, id := range storeIDs {
		st := &simStore{id: id, alive: true, c: newClient(t, addr)}
		sc.stores[id] = st
		sc.wg.Add(1)
		go sc.applyLoop(ctx, st)
	}
	t.Cleanup(sc.stop)
	return sc
}

func (sc *simCluster) stop() {
	sc.cancel()
	sc.wg.Wait()
}

// addRegion installs a region led by its first peer.
func (sc *simCluster) addRegion(r *metapb.Region) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.regions[r.Id] = &simRegion{meta: r, leader: r.Peers[0], term: 1}
}

// register puts every store into the scheduler.
func (sc *simCluster) register(ctx context.Context) {
	for id, st := range sc.stores {
		if err := st.c.PutStore(ctx, &metapb.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", 30000+id)}); err != nil {
			sc.t.Fatalf("put store %d: %v", id, err)
		}
	}
}

// kill stops a store: no more heartbeats; its leaders move to a live peer.
func (sc *simCluster) kill(id uint64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.stores[id].alive = false
	sc.stores[id].diedAt = time.Now()
	for _, r := range sc.regions {
		if r.leader.StoreId != id {
			continue
		}
		for _, p := range r.meta.Peers {
			if st := sc.stores[p.StoreId]; st != nil && st.alive {
				r.leader, r.term = p, r.term+1
				break
			}
		}
	}
}

// tick sends one round of store and region heartbeats.
func (sc *simCluster) tick(ctx context.Context) {
	sc.mu.Lock()
	type hbReq struct {
		c   client.Client
		req *pdpb.RegionHeartbeatRequest
	}
	var stats []*pdpb.StoreStats
	var clients []client.Client
	var reqs []hbReq
	for id, st := range sc.stores {
		if !st.alive {
			continue
		}
		stats = append(stats, &pdpb.StoreStats{StoreId: id, Capacity: 100 << 30, Available: 90 << 30})
		clients = append(clients, st.c)
	}
	for _, r := range sc.regions {
		ls := sc.stores[r.leader.StoreId]
		if !ls.alive {
			continue
		}
		req := &pdpb.RegionHeartbeatRequest{Region: cloneRegion(r.meta), Leader: r.leader, Term: r.term}
		for _, p := range r.meta.Peers {
			if st := sc.stores[p.StoreId]; st == nil || !st.alive {
				// A store outside the simulation never came up.
				var down time.Duration
				if st != nil {
					down = time.Since(st.diedAt)
				}
				req.DownPeers = append(req.DownPeers, &pdpb.PeerStats{Peer: p, DownSeconds: uint64(down.Seconds())})
				req.PendingPeers = append(req.PendingPeers, p)
			}
		}
		reqs = append(reqs, hbReq{ls.c, req})
	}
	sc.mu.Unlock()
	for i, s := range stats {
		_, _ = clients[i].StoreHeartbeat(ctx, s)
	}
	for _, r := range reqs {
		_ = r.c.RegionHeartbeat(ctx, r.req)
	}
}

// run heartbeats every interval until ctx ends or the cluster stops.
func (sc *simCluster) run(ctx context.Context, every time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(sc.ctx, cancel)
	sc.wg.Add(1)
	go func() {
		defer stop()
		defer cancel()
		defer sc.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			sc.tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (sc *simCluster) applyLoop(ctx context.Context, st *simStore) {
	defer sc.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case resp := <-st.c.RegionHeartbeatResponses():
			sc.apply(resp)
		}
	}
}

// apply executes one step like a region leader would: only for the epoch
// it was computed for.
func (sc *simCluster) apply(resp *pdpb.RegionHeartbeatResponse) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.responses = append(sc.responses, resp)
	r := sc.regions[resp.RegionId]
	if r == nil || resp.RegionEpoch.GetConfVer() != r.meta.RegionEpoch.ConfVer ||
		resp.RegionEpoch.GetVersion() != r.meta.RegionEpoch.Version {
		return
	}
	switch {
	case resp.ChangePeer != nil:
		p := resp.ChangePeer.Peer
		switch resp.ChangePeer.ChangeType {
		case eraftpb.ConfChangeType_AddNode, eraftpb.ConfChangeType_AddLearnerNode:
			role := metapb.PeerRole_Voter
			if resp.ChangePeer.ChangeType == eraftpb.ConfChangeType_AddLearnerNode {
				role = metapb.PeerRole_Learner
			}
			for _, q := range r.meta.Peers {
				if q.StoreId == p.StoreId {
					if q.Id == p.Id && q.Role == metapb.PeerRole_Learner && role == metapb.PeerRole_Voter {
						q.Role = role // promotion
						r.meta.RegionEpoch.ConfVer++
					}
					return
				}
			}
			// A simulated peer catches up at once.
			r.meta.Peers = append(r.meta.Peers, &metapb.Peer{Id: p.Id, StoreId: p.StoreId, Role: role})
		case eraftpb.ConfChangeType_RemoveNode:
			if p.Id == r.leader.Id {
				return // a leader never removes itself
			}
			peers := r.meta.Peers[:0:0]
			for _, q := range r.meta.Peers {
				if q.Id != p.Id {
					peers = append(peers, q)
				}
			}
			r.meta.Peers = peers
		}
		r.meta.RegionEpoch.ConfVer++
	case resp.TransferLeader != nil:
		to := resp.TransferLeader.Peer
		if st := sc.stores[to.GetStoreId()]; st != nil && st.alive {
			r.leader, r.term = to, r.term+1
		}
	}
}

// snapshot returns, per region ID, the sorted store IDs of its peers.
func (sc *simCluster) snapshot() map[uint64][]uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := map[uint64][]uint64{}
	for id, r := range sc.regions {
		var s []uint64
		for _, p := range r.meta.Peers {
			if p.Role != metapb.PeerRole_Learner { // voters only: a learner is half way in
				s = append(s, p.StoreId)
			}
		}
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out[id] = s
	}
	return out
}

func (sc *simCluster) leaderCounts() map[uint64]int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := map[uint64]int{}
	for _, r := range sc.regions {
		out[r.leader.StoreId]++
	}
	return out
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	c := *r
	e := *r.RegionEpoch
	c.RegionEpoch = &e
	c.Peers = append([]*metapb.Peer(nil), r.Peers...)
	return &c
}

// TestSimMissingReplicaAdded: a region with 2 of 3 replicas gets an
// AddPeer step in its heartbeat response, and ends with 3 replicas.
func TestSimMissingReplicaAdded(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	sc := newSimCluster(t, s.Addr(), 1, 2, 3)
	ctx := ctxT(t)
	boot := region(100, "", "", 1, 1, peer(101, 1), peer(102, 2))
	if err := sc.stores[1].c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:30001"}, boot); err != nil {
		t.Fatal(err)
	}
	sc.register(ctx)
	sc.addRegion(cloneRegion(boot))
	sc.run(ctx, 20*time.Millisecond)
	waitFor(t, 10*time.Second, "region 100 on stores 1,2,3", func() bool {
		return fmt.Sprint(sc.snapshot()[100]) == "[1 2 3]"
	})
	sc.mu.Lock()
	first := sc.responses[0]
	sc.mu.Unlock()
	if cp := first.ChangePeer; cp == nil || cp.ChangeType != eraftpb.ConfChangeType_AddLearnerNode || cp.Peer.StoreId != 3 {
		t.Fatalf("first response %v, want AddLearnerNode on store 3", first)
	}
	waitFor(t, 5*time.Second, "scheduler sees 3 peers", func() bool {
		r, err := sc.stores[1].c.GetRegionByID(ctx, 100)
		return err == nil && len(r.Meta.Peers) == 3
	})
}

// TestSimDownStoreRebuilt: a store silent past max-store-down-time has its
// replicas rebuilt on the remaining store, and no region is left short.
func TestSimDownStoreRebuilt(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.MaxStoreDownTime = config.D(1500 * time.Millisecond)
	cfg.Schedule.StoreDisconnectTime = config.D(500 * time.Millisecond)
	s := startServer(t, cfg)
	waitLeader(t, s)
	sc := startSim(t, s, threeReplicaRegions(6), 1, 2, 3, 4)
	sc.kill(3)
	waitFor(t, 30*time.Second, "no replica on store 3 and 3 replicas everywhere", func() bool {
		for _, stores := range sc.snapshot() {
			if len(stores) != 3 {
				return false
			}
			for _, s := range stores {
				if s == 3 {
					return false
				}
			}
		}
		return true
	})
}

// TestSimBalanceNewStore: an empty fourth store receives replicas and
// leaders until counts are balanced within one region or leader.
func TestSimBalanceNewStore(t *testing.T) {
	cfg := testConfig(t, "s1")
	s := startServer(t, cfg)
	waitLeader(t, s)
	const n = 12
	sc := startSim(t, s, threeReplicaRegions(n), 1, 2, 3, 4)
	spread := func(m map[uint64]int) int {
		lo, hi := n*3, 0
		for id := uint64(1); id <= 4; id++ {
			lo, hi = min(lo, m[id]), max(hi, m[id])
		}
		return hi - lo
	}
	waitFor(t, 60*time.Second, "replicas and leaders balanced over 4 stores", func() bool {
		counts := map[uint64]int{}
		for _, stores := range sc.snapshot() {
			if len(stores) != 3 {
				return false
			}
			for _, s := range stores {
				counts[s]++
			}
		}
		return spread(counts) <= 1 && spread(sc.leaderCounts()) <= 1
	})
	t.Logf("replicas %v leaders %v", sc.snapshot(), sc.leaderCounts())
}

// threeReplicaRegions builds n regions over the whole key space with peers
// on stores 1..3, leaders rotating.
func threeReplicaRegions(n int) []*metapb.Region {
	var out []*metapb.Region
	for i := range n {
		id := uint64(100 + 10*i)
		start, end := fmt.Sprintf("k%02d", i), fmt.Sprintf("k%02d", i+1)
		if i == 0 {
			start = ""
		}
		if i == n-1 {
			end = ""
		}
		stores := []uint64{uint64(i%3 + 1), uint64((i+1)%3 + 1), uint64((i+2)%3 + 1)}
		out = append(out, region(id, start, end, 1, 1, peer(id+1, stores[0]), peer(id+2, stores[1]), peer(id+3, stores[2])))
	}
	return out
}

func startSim(t *testing.T, s *Server, regions []*metapb.Region, stores ...uint64) *simCluster {
	sc := newSimCluster(t, s.Addr(), stores...)
	ctx := ctxT(t)
	if err := sc.stores[1].c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:30001"}, regions[0]); err != nil {
		t.Fatal(err)
	}
	sc.register(ctx)
	for _, r := range regions {
		sc.addRegion(cloneRegion(r))
	}
	sc.run(ctx, 20*time.Millisecond)
	waitFor(t, 10*time.Second, "scheduler sees every region", func() bool {
		rs, err := sc.stores[1].c.ScanRegions(ctx, nil, nil, 0)
		return err == nil && len(rs) == len(regions)
	})
	return sc
}

// TestSimOfflineStoreDrainedToTombstone: a store set Offline through the
// HTTP API loses every replica to the other stores, then becomes Tombstone.
func TestSimOfflineStoreDrainedToTombstone(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	sc := startSim(t, s, threeReplicaRegions(6), 1, 2, 3, 4)
	if code := newHTTP(t, s).do("POST", "/stores/3/state", map[string]string{"state": "Offline"}, nil); code != 200 {
		t.Fatalf("set offline: %d", code)
	}
	defer func() {
		if t.Failed() {
			ls := s.leader.Load()
			t.Logf("replicas %v leaders %v ops %+v stores %+v", sc.snapshot(), sc.leaderCounts(), ls.ops.List(), ls.cluster.GetStores())
			for _, r := range ls.cluster.ScanRegions(nil, nil, 0) {
				op, why := ls.checker.Check(ls.options(), r)
				t.Logf("region %d peers %v leader %v: %v %s", r.ID(), r.Peers(), r.Leader(), op, why)
			}
		}
	}()
	waitFor(t, 30*time.Second, "store 3 drained and tombstone", func() bool {
		for _, stores := range sc.snapshot() {
			if len(stores) != 3 || stores[2] == 3 || stores[1] == 3 || stores[0] == 3 {
				return false
			}
		}
		st, err := sc.stores[1].c.GetStore(ctxT(t), 3)
		return err == nil && st.State == metapb.StoreState_Tombstone
	})
}

// TestSimScatterRegion: scattering a region moves one of its replicas to
// the empty store.
func TestSimScatterRegion(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	sc := startSim(t, s, threeReplicaRegions(3), 1, 2, 3, 4)
	resp, err := rawPD(t, s.Addr()).ScatterRegion(ctxT(t), &pdpb.ScatterRegionRequest{
		Header: &pdpb.RequestHeader{ClusterId: s.ClusterID()}, RegionsId: []uint64{110, 999}})
	if err != nil || resp.FinishedPercentage != 50 || len(resp.FailedRegionsId) != 1 || resp.FailedRegionsId[0] != 999 {
		t.Fatalf("scatter = %v, %v", resp, err)
	}
	waitFor(t, 10*time.Second, "region 110 has a replica on store 4", func() bool {
		stores := sc.snapshot()[110]
		return len(stores) == 3 && stores[2] == 4
	})
}

// TestSimScatterAfterSplit: a region reported by a split has no known
// leader until its leader heartbeats. Scattering it then would plan the
// moves as if no peer led: removing the leader's peer without moving
// leadership first, which the store refuses, leaving an extra replica.
// It is refused instead, and works once the leader has reported.
func TestSimScatterAfterSplit(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	sc := startSim(t, s, threeReplicaRegions(1), 1, 2, 3, 4)
	ctx := ctxT(t)
	pd := rawPD(t, s.Addr())
	hdr := &pdpb.RequestHeader{ClusterId: s.ClusterID()}
	// Region 100 (stores 1, 2, 3, led by store 1) splits at "m": the new
	// region 200 takes [m, +inf).
	left := region(100, "", "m", 1, 2, peer(101, 1), peer(102, 2), peer(103, 3))
	right := region(200, "m", "", 1, 2, peer(201, 1), peer(202, 2), peer(203, 3))
	if _, err := pd.ReportBatchSplit(ctx, &pdpb.ReportBatchSplitRequest{Header: hdr, Regions: []*metapb.Region{left, right}}); err != nil {
		t.Fatal(err)
	}
	scatter := func() *pdpb.ScatterRegionResponse {
		resp, err := pd.ScatterRegion(ctx, &pdpb.ScatterRegionRequest{Header: hdr, RegionsId: []uint64{200}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := scatter(); len(resp.FailedRegionsId) != 1 || resp.FinishedPercentage != 0 {
		t.Fatalf("scatter of a region whose leader is unknown = %v, want failed", resp)
	}
	if v, ok := s.leader.Load().ops.Get(200); ok {
		t.Fatalf("operator for region 200 whose leader is unknown: %+v", v)
	}
	// Its leader (on store 1, the split's leader) reports; now it scatters,
	// moving leadership off any peer it removes.
	sc.mu.Lock()
	sc.regions[100].meta = left
	sc.regions[200] = &simRegion{meta: right, leader: right.Peers[0], term: 1}
	sc.mu.Unlock()
	waitFor(t, 5*time.Second, "region 200's leader known", func() bool {
		r := s.leader.Load().cluster.GetRegion(200)
		return r != nil && r.Leader() != nil
	})
	if resp := scatter(); len(resp.FailedRegionsId) != 0 {
		t.Fatalf("scatter after the leader reported = %v", resp)
	}
	v, ok := s.leader.Load().ops.Get(200)
	if !ok {
		t.Fatal("no scatter operator")
	}
	for i, st := range v.Steps {
		if strings.HasPrefix(st, "remove peer 201 ") && (i == 0 || !strings.HasPrefix(v.Steps[i-1], "transfer leader")) {
			t.Fatalf("scatter removes the leader's peer without moving leadership first: %v", v.Steps)
		}
	}
}
