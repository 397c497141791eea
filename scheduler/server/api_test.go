package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
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
