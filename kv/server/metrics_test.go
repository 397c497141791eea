package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// requestCounts reads regionkv_store_request_duration_seconds's sample
// counts by "command outcome path".
func requestCounts(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "regionkv_store_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["command"]+" "+l["outcome"]+" "+l["path"]] += m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// TestRequestMetrics: unary calls and BatchCommands sub-requests are
// counted and timed by command, outcome and path; a refused request counts
// as an error, not as ok.
func TestRequestMetrics(t *testing.T) {
	s := startServer(t, nil)
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		if r, err := s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil || r.Error != "" {
			t.Fatalf("put: %v %v", r, err)
		}
	}
	if r, err := s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k")}); err != nil || string(r.Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
	if r, err := s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{}); err != nil || r.Error == "" {
		t.Fatalf("get of an empty key: %v %v, want a refusal", r, err)
	}
	if r, err := s.client.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{{}}}); err != nil || len(r.Pairs) == 0 {
		t.Fatalf("batch get of an empty key: %v %v, want a key error", r, err)
	}
	stream, err := s.client.BatchCommands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&tikvpb.BatchCommandsRequest{Requests: []*batchReq{rawGetCmd("k"), rawPutCmd("k2", "v2")},
		RequestIds: []uint64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	collect(t, stream, 2)
	_ = stream.CloseSend()

	got := requestCounts(t, s.reg)
	want := map[string]uint64{
		"RawPut ok unary": 3, "RawGet ok unary": 1, "RawGet error unary": 1, "RawBatchGet error unary": 1,
		"RawGet ok batch": 1, "RawPut ok batch": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d requests, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counted %v, want exactly %v", got, want)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %q: %v", url, b, err)
	}
	return resp.StatusCode
}

// TestStatusEndpoints: /status tells the build, start time and uptime;
// /config the running config by its file's keys; /health answers 503 until
// the store is healthy; /metrics has the build and the engines' sizes.
func TestStatusEndpoints(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Raftstore.RegionMaxSize = 256 << 20
	eng, err := engine.Open(cfg.DataDir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	reg := NewMetricsRegistry()
	reg.MustRegister(NewEngineCollector(eng))
	var healthy atomic.Bool
	st, err := StartStatus(StatusConfig{Addr: "127.0.0.1:0", Registry: reg, Config: cfg, Started: time.Now().Add(-90 * time.Second),
		Health: func() map[string]any { return map[string]any{"healthy": healthy.Load()} }}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := "http://" + st.Addr()

	var h map[string]any
	if code := getJSON(t, base+"/health", &h); code != http.StatusServiceUnavailable {
		t.Fatalf("/health of an unhealthy store: %d %v", code, h)
	}
	healthy.Store(true)
	if code := getJSON(t, base+"/health", &h); code != http.StatusOK || h["healthy"] != true {
		t.Fatalf("/health: %d %v", code, h)
	}

	st.SetStore(map[string]any{"store-id": 7})
	var status map[string]any
	if code := getJSON(t, base+"/status", &status); code != http.StatusOK || status["version"] == "" ||
		status["uptime"] != "1m30s" || status["store-id"] != float64(7) || status["go-version"] == "" {
		t.Fatalf("/status: %d %v", code, status)
	}
	var running map[string]any
	if code := getJSON(t, base+"/config", &running); code != http.StatusOK || running["addr"] != cfg.Addr {
		t.Fatalf("/config: %d %v", code, running)
	}
	if rs, _ := running["raftstore"].(map[string]any); rs["region-max-size"] != "256MiB" {
		t.Fatalf("/config raftstore: %v", running["raftstore"])
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"regionkv_build_info{", `regionkv_engine_size_bytes{db="raft",kind="lsm"}`,
		`regionkv_engine_size_bytes{db="kv",kind="vlog"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
