package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/api"
)

// get fetches url with c and returns the status, protocol major version
// and body.
func get(t *testing.T, c *http.Client, url string) (int, int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.ProtoMajor, string(b)
}

// TestOnePortServesGRPCAndHTTP: the member's one address answers gRPC
// (unary and the heartbeat stream), HTTP/1.1 and cleartext HTTP/2 alike.
func TestOnePortServesGRPCAndHTTP(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	addr := s.Addr()

	pd := rawPD(t, addr)
	h := &pdpb.RequestHeader{ClusterId: s.ClusterID()}
	members, err := pd.GetMembers(ctxT(t), &pdpb.GetMembersRequest{Header: h})
	if err != nil || members.Leader.GetName() != "s1" {
		t.Fatalf("gRPC GetMembers on %s: %v %v", addr, members, err)
	}
	boot, err := pd.Bootstrap(ctxT(t), &pdpb.BootstrapRequest{Header: h, Store: &metapb.Store{Id: 1, Address: "127.0.0.1:30001"},
		Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}})
	if err != nil || boot.Header.Error != nil {
		t.Fatalf("bootstrap: %v %v", boot, err)
	}
	stream, err := pd.RegionHeartbeat(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	region := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 2, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	if err := stream.Send(&pdpb.RegionHeartbeatRequest{Header: h, Region: region, Leader: region.Peers[0], Term: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the streamed heartbeat to show", func() bool {
		r, err := pd.GetRegionByID(ctxT(t), &pdpb.GetRegionByIDRequest{Header: h, RegionId: 2})
		return err == nil && r.Region.GetRegionEpoch().GetConfVer() == 2
	})
	_ = stream.CloseSend()

	h1 := &http.Client{Timeout: 10 * time.Second}
	code, proto, body := get(t, h1, "http://"+addr+api.Prefix+"/health")
	if code != 200 || proto != 1 || !strings.Contains(body, `"leader": true`) {
		t.Fatalf("HTTP/1.1 health: %d HTTP/%d %s", code, proto, body)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	code, proto, body = get(t, h2, "http://"+addr+"/metrics")
	if code != 200 || proto != 2 || !strings.Contains(body, "regionkv_build_info{") ||
		!strings.Contains(body, `regionkv_scheduler_store_states{state="Up"} 1`) {
		t.Fatalf("HTTP/2 /metrics: %d HTTP/%d\n%.3000s", code, proto, body)
	}
}

// TestDeprecatedStatusAddrServesTheAPI: a member given the old status-addr
// serves the HTTP API there too.
func TestDeprecatedStatusAddrServesTheAPI(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.StatusAddr = "127.0.0.1:0"
	s := startServer(t, cfg)
	waitLeader(t, s)
	c := &http.Client{Timeout: 10 * time.Second}
	for _, a := range []string{s.Addr(), s.legacyLis.Addr().String()} {
		if code, _, body := get(t, c, "http://"+a+api.Prefix+"/health"); code != 200 || !strings.Contains(body, "healthy") {
			t.Fatalf("health on %s: %d %s", a, code, body)
		}
	}
}

// TestEtcdStartAndStopAreQuiet: a clean start and stop of a member with an
// embedded etcd logs no warning or error.
func TestEtcdStartAndStopAreQuiet(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s, err := Start(testConfig(t, "s1"), zap.New(core), WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, s)
	s.Close()
	for _, e := range logs.All() {
		t.Errorf("%s [%s] %s %v", e.Level, e.LoggerName, e.Message, e.ContextMap())
	}
}

// TestMetricsTargetsAndRunningConfig: the discovery endpoint lists the
// member and every store's registered status address with labels (a store
// without one is left out); the running config shows the member's keys
// and the schedule it runs.
func TestMetricsTargetsAndRunningConfig(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	pd := rawPD(t, s.Addr())
	h := &pdpb.RequestHeader{ClusterId: s.ClusterID()}
	boot, err := pd.Bootstrap(ctxT(t), &pdpb.BootstrapRequest{Header: h,
		Store:  &metapb.Store{Id: 1, Address: "127.0.0.1:30001", StatusAddress: "127.0.0.1:30021", Version: "v9"},
		Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}})
	if err != nil || boot.Header.Error != nil {
		t.Fatalf("bootstrap: %v %v", boot, err)
	}
	for _, st := range []*metapb.Store{{Id: 4, Address: "127.0.0.1:30002", StatusAddress: "127.0.0.1:30022"},
		{Id: 5, Address: "127.0.0.1:30003"}} {
		if r, err := pd.PutStore(ctxT(t), &pdpb.PutStoreRequest{Header: h, Store: st}); err != nil || r.Header.Error != nil {
			t.Fatalf("put store: %v %v", r, err)
		}
	}
	hc := newHTTP(t, s)
	var groups []api.TargetGroup
	if code := hc.do("GET", "/metrics/targets", nil, &groups); code != 200 {
		t.Fatalf("targets: %d", code)
	}
	got := map[string]map[string]string{}
	for _, g := range groups {
		if len(g.Targets) != 1 {
			t.Fatalf("group %+v has %d targets", g, len(g.Targets))
		}
		got[g.Targets[0]] = g.Labels
	}
	want := map[string]map[string]string{
		s.Addr():          {"component": "scheduler", "member": "s1"},
		"127.0.0.1:30021": {"component": "store", "store_id": "1", "store_address": "127.0.0.1:30001"},
		"127.0.0.1:30022": {"component": "store", "store_id": "4", "store_address": "127.0.0.1:30002"},
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for target, labels := range want {
		for k, v := range labels {
			if got[target][k] != v {
				t.Fatalf("target %s: labels %v, want %v", target, got[target], labels)
			}
		}
	}

	var stores struct {
		Stores []api.StoreView `json:"stores"`
	}
	if code := hc.do("GET", "/stores", nil, &stores); code != 200 || len(stores.Stores) != 3 {
		t.Fatalf("stores: %d %+v", code, stores)
	}
	for _, st := range stores.Stores {
		if st.ID == 1 && (st.Version != "v9" || st.StatusAddress != "127.0.0.1:30021") {
			t.Fatalf("store 1 as the API shows it: %+v", st)
		}
	}

	if code := hc.do("POST", "/config", map[string]any{"max-replicas": 5}, nil); code != 200 {
		t.Fatalf("set max-replicas: %d", code)
	}
	var running map[string]json.RawMessage
	if code := hc.do("GET", "/config/running", nil, &running); code != 200 {
		t.Fatalf("running config: %d", code)
	}
	var sched struct {
		MaxReplicas int `json:"max-replicas"`
	}
	var lg struct {
		Level string `json:"level"`
	}
	if string(running["addr"]) != `"127.0.0.1:0"` || json.Unmarshal(running["schedule"], &sched) != nil || sched.MaxReplicas != 5 ||
		json.Unmarshal(running["log"], &lg) != nil || lg.Level != "info" {
		t.Fatalf("running config: %s", running)
	}
}
