package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/api"
)

type httpT struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newHTTP(t *testing.T, s *Server) *httpT {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpT{t: t, base: "http://" + s.Addr() + api.Prefix, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends a request and decodes the JSON answer into out; it returns the
// status code.
func (h *httpT) do(method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func TestHTTPAPI(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	h := newHTTP(t, s)
	var health map[string]bool
	if code := h.do("GET", "/health", nil, &health); code != 200 || !health["leader"] {
		t.Fatalf("health %d %v", code, health)
	}
	var members struct {
		Members []api.MemberView
		Leader  *api.MemberView
	}
	if code := h.do("GET", "/members", nil, &members); code != 200 || len(members.Members) != 1 ||
		members.Leader.ClientURLs[0] != "http://"+s.Addr() {
		t.Fatalf("members %d %+v", code, members)
	}

	// A cluster with three stores and a region on two of them.
	sc := newSimCluster(t, s.Addr(), 1, 2, 3)
	ctx := ctxT(t)
	boot := region(100, "", "", 1, 1, peer(101, 1), peer(102, 2), peer(103, 3))
	if err := sc.stores[1].c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:30001"}, boot); err != nil {
		t.Fatal(err)
	}
	sc.register(ctx)
	sc.addRegion(cloneRegion(boot))
	sc.run(ctx, 20*time.Millisecond)

	var stores struct {
		Count  int
		Stores []api.StoreView
	}
	waitFor(t, 5*time.Second, "three stores with a region each", func() bool {
		h.do("GET", "/stores", nil, &stores)
		return stores.Count == 3 && stores.Stores[2].RegionCount == 1 && stores.Stores[0].LeaderCount == 1
	})
	var st api.StoreView
	if code := h.do("GET", "/stores/2", nil, &st); code != 200 || st.ID != 2 || st.State != "Up" {
		t.Fatalf("store 2: %d %+v", code, st)
	}
	if code := h.do("GET", "/stores/9", nil, nil); code != 404 {
		t.Fatalf("store 9: %d", code)
	}
	if code := h.do("POST", "/stores/3/weight", map[string]float64{"leader": 2, "region": 3}, &st); code != 200 || st.RegionWeight != 3 {
		t.Fatalf("weight: %d %+v", code, st)
	}
	if code := h.do("POST", "/stores/3/state", map[string]string{"state": "Tombstone"}, nil); code != 400 {
		t.Fatalf("Up -> Tombstone allowed: %d", code)
	}

	var regions struct {
		Count   int
		Regions []api.RegionView
	}
	if code := h.do("GET", "/regions", nil, &regions); code != 200 || regions.Count != 1 || regions.Regions[0].ID != 100 {
		t.Fatalf("regions %d %+v", code, regions)
	}
	var rv api.RegionView
	if code := h.do("GET", "/regions/100", nil, &rv); code != 200 || len(rv.Peers) != 3 || rv.Leader.StoreID != 1 {
		t.Fatalf("region 100: %d %+v", code, rv)
	}
	if code := h.do("GET", "/regions/key/"+hex.EncodeToString([]byte("abc")), nil, &rv); code != 200 || rv.ID != 100 {
		t.Fatalf("region by key: %d %+v", code, rv)
	}
	if code := h.do("GET", "/regions?start=zz", nil, nil); code != 400 {
		t.Fatalf("bad hex accepted: %d", code)
	}

	// An operator by hand: move leadership to store 2; the simulated
	// leader applies it.
	var view map[string]any
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "transfer-leader", RegionID: 100, ToStore: 2}, &view); code != 200 {
		t.Fatalf("add operator: %d %v", code, view)
	}
	waitFor(t, 5*time.Second, "leader on store 2", func() bool { return sc.leaderCounts()[2] == 1 })
	waitFor(t, 5*time.Second, "operator success", func() bool {
		h.do("GET", "/operators/100", nil, &view)
		return view["status"] == "success"
	})
	// A second one that cannot finish (its peer ID is unknown to the sim
	// only after apply) is canceled.
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "split", RegionID: 100, SplitKeys: []string{"6d"}}, nil); code != 200 {
		t.Fatalf("split operator: %d", code)
	}
	var ops []map[string]any
	h.do("GET", "/operators", nil, &ops)
	if len(ops) != 1 || ops[0]["desc"] != "admin-split" {
		t.Fatalf("operators %v", ops)
	}
	if code := h.do("DELETE", "/operators/100", nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if code := h.do("DELETE", "/operators/100", nil, nil); code != 404 {
		t.Fatalf("cancel twice: %d", code)
	}
	// Split keys the store would refuse (the region's start key here) are
	// refused at once, not left to block the region until the timeout.
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "split", RegionID: 100, SplitKeys: []string{""}}, nil); code != 400 {
		t.Fatalf("split at an empty key: %d, want 400", code)
	}
	if h.do("GET", "/operators", nil, &ops); len(ops) != 0 {
		t.Fatalf("operators after a refused split: %v", ops)
	}
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "bogus", RegionID: 100}, nil); code != 400 {
		t.Fatalf("bogus operator: %d", code)
	}

	// Schedulers: add, pause, remove.
	var sched struct {
		Running   []map[string]any
		Available []string
	}
	if code := h.do("POST", "/schedulers", map[string]string{"name": "balance-leader"}, &sched); code != 200 || len(sched.Running) != 1 {
		t.Fatalf("add scheduler: %d %+v", code, sched)
	}
	if code := h.do("POST", "/schedulers/balance-leader/pause", map[string]float64{"seconds": 60}, &sched); code != 200 || sched.Running[0]["paused"] != true {
		t.Fatalf("pause: %d %+v", code, sched)
	}
	if code := h.do("POST", "/schedulers", map[string]string{"name": "nope"}, nil); code != 400 {
		t.Fatalf("unknown scheduler: %d", code)
	}
	if code := h.do("DELETE", "/schedulers/balance-leader", nil, &sched); code != 200 || len(sched.Running) != 0 {
		t.Fatalf("remove: %d %+v", code, sched)
	}

	// Config: show, set, reject bad values; the change is persisted.
	var conf map[string]any
	if code := h.do("GET", "/config", nil, &conf); code != 200 || conf["max-replicas"] != float64(3) {
		t.Fatalf("config: %d %v", code, conf)
	}
	if code := h.do("POST", "/config", map[string]any{"max-store-down-time": "1h", "tolerance": 0.1}, &conf); code != 200 ||
		conf["max-store-down-time"] != "1h" || conf["tolerance"] != 0.1 {
		t.Fatalf("set config: %d %v", code, conf)
	}
	if code := h.do("POST", "/config", map[string]any{"max-replicas": 0}, nil); code != 400 {
		t.Fatalf("invalid config accepted: %d", code)
	}
	if code := h.do("POST", "/config", map[string]any{"no-such-key": 1}, nil); code != 400 {
		t.Fatalf("unknown key accepted: %d", code)
	}
	b, ok, err := s.storage.LoadSchedule(ctx)
	if err != nil || !ok || !bytes.Contains(b, []byte(`"tolerance":0.1`)) {
		t.Fatalf("persisted schedule %s %v %v", b, ok, err)
	}

	// Prometheus metrics sit beside the API on the status address.
	resp, err := h.c.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`regionkv_scheduler_region_heartbeats_total{result="ok"}`, "regionkv_scheduler_is_leader 1",
		"regionkv_scheduler_regions 1"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestAPIRefusesNonsense: admin operations against stores that cannot take
// them, a removal that would cost a region its quorum, taking a store
// offline when too few would remain, config values out of range (and a
// POST /config with one bad key changes nothing), a pause that would
// overflow, and an unbounded split count are all refused.
func TestAPIRefusesNonsense(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	h := newHTTP(t, s)
	sc := startSim(t, s, threeReplicaRegions(1), 1, 2, 3, 4, 5)

	// Store 5 goes offline and, holding nothing, becomes a Tombstone;
	// store 4 dies.
	if code := h.do("POST", "/stores/5/state", map[string]string{"state": "Offline"}, nil); code != 200 {
		t.Fatalf("offline store 5: %d", code)
	}
	sc.kill(4)
	var st api.StoreView
	waitFor(t, 10*time.Second, "store 5 tombstone and store 4 not up", func() bool {
		h.do("GET", "/stores/5", nil, &st)
		var s4 api.StoreView
		h.do("GET", "/stores/4", nil, &s4)
		return st.State == "Tombstone" && s4.State != "Up"
	})
	type refused struct {
		name string
		req  api.OperatorRequest
		want string
	}
	for _, tc := range []refused{
		{"add on a tombstone", api.OperatorRequest{Name: "add-peer", RegionID: 100, ToStore: 5}, "store 5"},
		{"add on a silent store", api.OperatorRequest{Name: "add-peer", RegionID: 100, ToStore: 4}, "store 4"},
		{"move to a silent store", api.OperatorRequest{Name: "move-peer", RegionID: 100, FromStore: 2, ToStore: 4}, "store 4"},
		{"add on an unknown store", api.OperatorRequest{Name: "add-peer", RegionID: 100, ToStore: 9}, "store 9"},
	} {
		var body map[string]any
		if code := h.do("POST", "/operators", tc.req, &body); code != 400 || !strings.Contains(fmt.Sprint(body["error"]), tc.want) {
			t.Errorf("%s: %d %v, want 400 naming %s", tc.name, code, body, tc.want)
		}
	}

	// Store 3 dies too: region 100 (stores 1, 2, 3) has 2 healthy of 3.
	// Removing the peer on store 2 would leave 1 healthy of 2.
	sc.kill(3)
	waitFor(t, 10*time.Second, "store 3's peer reported down", func() bool {
		r := s.leader.Load().cluster.GetRegion(100)
		return r != nil && len(r.DownPeers()) == 1
	})
	var body map[string]any
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "remove-peer", RegionID: 100, FromStore: 2}, &body); code != 400 ||
		!strings.Contains(fmt.Sprint(body["error"]), "healthy quorum") {
		t.Fatalf("unsafe remove-peer: %d %v", code, body)
	}
	// Removing the down one is fine.
	if code := h.do("POST", "/operators", api.OperatorRequest{Name: "remove-peer", RegionID: 100, FromStore: 3}, &body); code != 200 {
		t.Fatalf("remove-peer of the down replica: %d %v", code, body)
	}
	// Stores 1 and 2 are the only Up ones: none may go offline (max-replicas 3).
	if code := h.do("POST", "/stores/1/state", map[string]string{"state": "Offline"}, &body); code != 400 {
		t.Fatalf("offline with too few Up stores left: %d %v", code, body)
	}

	// Config: one bad key changes nothing; unknown schedulers are refused.
	if code := h.do("POST", "/config", map[string]any{"max-replicas": 5, "patrol-interval": "1ns"}, &body); code != 400 {
		t.Fatalf("patrol-interval 1ns: %d %v", code, body)
	}
	if code := h.do("POST", "/config", map[string]any{"max-store-down-time": "1s", "store-disconnect-time": "5s"}, &body); code != 400 {
		t.Fatalf("disconnect time above down time: %d %v", code, body)
	}
	if code := h.do("POST", "/config", map[string]any{"schedulers": []string{"no-such-scheduler"}}, &body); code != 400 {
		t.Fatalf("unknown scheduler: %d %v", code, body)
	}
	var conf map[string]any
	if h.do("GET", "/config", nil, &conf); conf["max-replicas"] != float64(3) || conf["patrol-interval"] != "5ms" {
		t.Fatalf("config after refused changes: %v", conf)
	}

	// A pause too long for a time.Duration is refused, not turned into a
	// resume.
	if code := h.do("POST", "/schedulers", map[string]string{"name": "balance-leader"}, nil); code != 200 {
		t.Fatal("add balance-leader")
	}
	if code := h.do("POST", "/schedulers/balance-leader/pause", map[string]float64{"seconds": 60}, nil); code != 200 {
		t.Fatal("pause 60 s")
	}
	var sched struct{ Running []map[string]any }
	if code := h.do("POST", "/schedulers/balance-leader/pause", map[string]float64{"seconds": 1e10}, &sched); code != 400 {
		t.Fatalf("pause 1e10 s: %d", code)
	}
	if h.do("GET", "/schedulers", nil, &sched); len(sched.Running) != 1 || sched.Running[0]["paused"] != true {
		t.Fatalf("after a refused pause: %+v", sched)
	}

	resp, err := rawPD(t, s.Addr()).AskBatchSplit(ctxT(t), &pdpb.AskBatchSplitRequest{
		Header: &pdpb.RequestHeader{ClusterId: s.ClusterID()}, Region: region(100, "", "", 1, 1, peer(101, 1)), SplitCount: 1 << 30})
	if err != nil || resp.Header.GetError().GetType() != pdpb.ErrorType_INVALID_VALUE || len(resp.Ids) != 0 {
		t.Fatalf("AskBatchSplit of 2^30 regions = %v, %v", resp, err)
	}
}
