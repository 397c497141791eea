package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/client"
	"github.com/regionkv/regionkv/scheduler/pderr"
)

func TestStores(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	c := newClient(t, s.Addr())
	ctx := ctxT(t)
	bootstrapOne(t, c)
	if err := c.PutStore(ctx, &metapb.Store{Id: 4, Address: "127.0.0.1:20161"}); err != nil {
		t.Fatal(err)
	}
	err := c.PutStore(ctx, &metapb.Store{Id: 5, Address: "127.0.0.1:20161"})
	var re *client.ResponseError
	if !errors.As(err, &re) || re.Type != pdpb.ErrorType_DUPLICATED_ENTRY {
		t.Fatalf("duplicate address: %v", err)
	}
	st, err := c.GetStore(ctx, 4)
	if err != nil || st.Address != "127.0.0.1:20161" || st.State != metapb.StoreState_Up {
		t.Fatalf("GetStore = %v, %v", st, err)
	}
	if _, err := c.GetStore(ctx, 99); !errors.Is(err, client.ErrStoreNotFound) {
		t.Fatalf("GetStore(99): %v", err)
	}
	all, err := c.GetAllStores(ctx, true)
	if err != nil || len(all) != 2 {
		t.Fatalf("GetAllStores = %v, %v", all, err)
	}
	resp, err := c.StoreHeartbeat(ctx, &pdpb.StoreStats{StoreId: 4, Capacity: 100, Available: 50})
	if err != nil || resp.State != metapb.NodeState_Serving {
		t.Fatalf("StoreHeartbeat = %v, %v", resp, err)
	}
	if _, err := c.StoreHeartbeat(ctx, &pdpb.StoreStats{StoreId: 77}); !errors.Is(err, client.ErrStoreNotFound) {
		t.Fatalf("heartbeat of unknown store: %v", err)
	}
}

// hb sends one region heartbeat and waits until the scheduler shows want.
func hb(t *testing.T, c client.Client, r *metapb.Region, leader *metapb.Peer, term uint64) {
	t.Helper()
	if err := c.RegionHeartbeat(ctxT(t), &pdpb.RegionHeartbeatRequest{Region: r, Leader: leader, Term: term}); err != nil {
		t.Fatal(err)
	}
}

func waitRegion(t *testing.T, c client.Client, key string, cond func(*client.Region) bool) *client.Region {
	t.Helper()
	var got *client.Region
	waitFor(t, 10*time.Second, "region containing "+key, func() bool {
		r, err := c.GetRegion(ctxT(t), []byte(key))
		if err == nil && cond(r) {
			got = r
			return true
		}
		return false
	})
	return got
}

func TestRegionHeartbeatsAndTree(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	c := newClient(t, s.Addr())
	ctx := ctxT(t)
	bootstrapOne(t, c)
	// Region 2 covers everything at version 1. It splits at "m": region 10
	// takes ["", "m"), region 2 keeps ["m", "") with version 2.
	ids, err := c.AskBatchSplit(ctx, region(2, "", "", 1, 1, peer(3, 1)), 1)
	if err != nil || len(ids) != 1 || len(ids[0].NewPeerIds) != 1 {
		t.Fatalf("AskBatchSplit = %v, %v", ids, err)
	}
	left := region(ids[0].NewRegionId, "", "m", 1, 2, peer(ids[0].NewPeerIds[0], 1))
	right := region(2, "m", "", 1, 2, peer(3, 1))
	if err := c.ReportBatchSplit(ctx, []*metapb.Region{left, right}); err != nil {
		t.Fatal(err)
	}
	hb(t, c, left, left.Peers[0], 1)
	hb(t, c, right, right.Peers[0], 1)
	waitRegion(t, c, "a", func(r *client.Region) bool { return r.Meta.Id == left.Id && r.Leader != nil })
	waitRegion(t, c, "z", func(r *client.Region) bool { return r.Meta.Id == 2 && r.Leader != nil })

	// A stale heartbeat of region 2 from before the split must not bring
	// back the old range.
	hb(t, c, region(2, "", "", 1, 1, peer(3, 1)), peer(3, 1), 1)
	// A newer one (conf change) goes through; waiting for it also proves
	// the stale one was processed (the stream is ordered).
	hb(t, c, region(2, "m", "", 2, 2, peer(3, 1)), peer(3, 1), 1)
	waitRegion(t, c, "z", func(r *client.Region) bool { return r.Meta.RegionEpoch.ConfVer == 2 })
	if r, err := c.GetRegion(ctx, []byte("a")); err != nil || r.Meta.Id != left.Id {
		t.Fatalf("stale heartbeat changed the tree: %v, %v", r, err)
	}
	if r, err := c.GetPrevRegion(ctx, []byte("z")); err != nil || r.Meta.Id != left.Id {
		t.Fatalf("GetPrevRegion = %v, %v", r, err)
	}
	if r, err := c.GetRegionByID(ctx, 2); err != nil || string(r.Meta.StartKey) != "m" {
		t.Fatalf("GetRegionByID = %v, %v", r, err)
	}
	if _, err := c.GetRegionByID(ctx, 12345); !errors.Is(err, client.ErrRegionNotFound) {
		t.Fatalf("GetRegionByID(missing) = %v", err)
	}
	all, err := c.ScanRegions(ctx, nil, nil, 0)
	if err != nil || len(all) != 2 || all[0].Meta.Id != left.Id || all[1].Meta.Id != 2 {
		t.Fatalf("ScanRegions = %v, %v", all, err)
	}
	some, err := c.ScanRegions(ctx, []byte("b"), []byte("c"), 10)
	if err != nil || len(some) != 1 || some[0].Meta.Id != left.Id {
		t.Fatalf("ScanRegions(b, c) = %v, %v", some, err)
	}

	// A merge-like report covering both ranges with a higher version
	// replaces both regions.
	hb(t, c, region(2, "", "", 2, 3, peer(3, 1)), peer(3, 1), 2)
	waitRegion(t, c, "a", func(r *client.Region) bool { return r.Meta.Id == 2 })
	if _, err := c.GetRegionByID(ctx, left.Id); !errors.Is(err, client.ErrRegionNotFound) {
		t.Fatalf("replaced region still present: %v", err)
	}
}

func rawPD(t testing.TB, addr string) pdpbgrpc.PDClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pdpbgrpc.NewPDClient(cc)
}

func TestClusterIDMismatchAndMembers(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	pd := rawPD(t, s.Addr())
	ctx := ctxT(t)
	resp, err := pd.AllocID(ctx, &pdpb.AllocIDRequest{Header: &pdpb.RequestHeader{ClusterId: s.ClusterID() + 1}})
	if err != nil || !pderr.IsClusterIDMismatch(resp.Header.GetError()) {
		t.Fatalf("AllocID with wrong cluster id = %v, %v", resp, err)
	}
	m, err := pd.GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err != nil || m.Header.ClusterId != s.ClusterID() || len(m.Members) != 1 || m.Leader == nil {
		t.Fatalf("GetMembers = %v, %v", m, err)
	}
	if want := "http://" + s.Addr(); m.Leader.ClientUrls[0] != want || m.Leader.Name != "s1" {
		t.Fatalf("leader %v, want client url %s", m.Leader, want)
	}
	// The heartbeat stream answers a mismatched header with a header error.
	stream, err := pd.RegionHeartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pdpb.RegionHeartbeatRequest{Header: &pdpb.RequestHeader{ClusterId: 7}}); err != nil {
		t.Fatal(err)
	}
	hr, err := stream.Recv()
	if err != nil || !pderr.IsClusterIDMismatch(hr.Header.GetError()) {
		t.Fatalf("heartbeat with wrong cluster id = %v, %v", hr, err)
	}
	_ = stream.CloseSend()
}

func TestRestartKeepsMetadataAndTSO(t *testing.T) {
	cfg := testConfig(t, "s1")
	s, err := Start(cfg, testLogger(t), WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, s)
	id := s.ClusterID()
	c := newClient(t, s.Addr())
	ctx := ctxT(t)
	bootstrapOne(t, c)
	var last int64
	for range 100 {
		p, l, err := c.GetTS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last = p<<18 | l
	}
	maxID, _ := c.AllocID(ctx)
	c.Close()
	s.Close()

	s2 := startServer(t, cfg)
	waitLeader(t, s2)
	if s2.ClusterID() != id {
		t.Fatalf("cluster id changed across restart: %d -> %d", id, s2.ClusterID())
	}
	c2 := newClient(t, s2.Addr())
	p, l, err := c2.GetTS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts := p<<18 | l; ts <= last {
		t.Fatalf("tso went backwards across restart: %d <= %d", ts, last)
	}
	if ok, err := c2.IsBootstrapped(ctx); err != nil || !ok {
		t.Fatalf("bootstrapped lost: %v %v", ok, err)
	}
	if st, err := c2.GetStore(ctx, 1); err != nil || st.Address == "" {
		t.Fatalf("store lost: %v %v", st, err)
	}
	waitFor(t, 5*time.Second, "region 2 loaded", func() bool {
		r, err := c2.GetRegionByID(ctx, 2)
		return err == nil && r.Meta.Id == 2
	})
	if id2, err := c2.AllocID(ctx); err != nil || id2 <= maxID {
		t.Fatalf("id after restart %d <= %d (%v)", id2, maxID, err)
	}

	// The store has not been heard from since the restart: it may well be
	// stopped, so it shows Disconnected until it heartbeats.
	h := newHTTP(t, s2)
	state := func() string {
		var v api.StoreView
		if code := h.do("GET", "/stores/1", nil, &v); code != 200 {
			t.Fatalf("GET /stores/1: %d", code)
		}
		return v.State
	}
	if st := state(); st != "Disconnected" {
		t.Fatalf("store silent since the restart shows %s, want Disconnected", st)
	}
	if _, err := c2.StoreHeartbeat(ctx, &pdpb.StoreStats{StoreId: 1}); err != nil {
		t.Fatal(err)
	}
	if st := state(); st != "Up" {
		t.Fatalf("store that heartbeat shows %s, want Up", st)
	}
}

func TestTSOStrictlyIncreasing(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	c := newClient(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const workers, each = 4, 500
	results := make(chan []int64, workers)
	for range workers {
		go func() {
			var out []int64
			for range each {
				p, l, err := c.GetTS(ctx)
				if err != nil {
					results <- nil
					return
				}
				out = append(out, p<<18|l)
			}
			results <- out
		}()
	}
	seen := map[int64]bool{}
	for range workers {
		out := <-results
		if len(out) != each {
			t.Fatal("GetTS failed")
		}
		for i, ts := range out {
			if i > 0 && ts <= out[i-1] {
				t.Fatalf("not increasing within one caller: %d after %d", ts, out[i-1])
			}
			if seen[ts] {
				t.Fatalf("timestamp %d handed out twice", ts)
			}
			seen[ts] = true
		}
	}
}
