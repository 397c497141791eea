package server

import (
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/config"
)

// TestKeyVizFromHeartbeats: region heartbeats feed the key visualizer's
// history; /api/v1/keyviz shows the hot region's traffic on its key range
// and the region view its last heartbeat's traffic.
func TestKeyVizFromHeartbeats(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s, _, hdr, st := heartbeatServer(t, cfg)
	// Three regions after two splits; the middle one, [g, p), is hot.
	for _, hb := range []*pdpb.RegionHeartbeatRequest{
		{Region: region(100, "", "g", 1, 3, peer(101, 1)), BytesWritten: 10, KeysWritten: 1},
		{Region: region(200, "g", "p", 1, 3, peer(201, 1)), BytesWritten: 1 << 20, KeysWritten: 512, BytesRead: 4096, KeysRead: 8},
		{Region: region(300, "p", "", 1, 3, peer(301, 1)), BytesWritten: 20, KeysWritten: 2},
	} {
		hb.Header, hb.Leader, hb.Term = hdr, hb.Region.Peers[0], 1
		if err := st.Send(hb); err != nil {
			t.Fatal(err)
		}
	}
	h := newHTTP(t, s)
	var kv api.KeyVizView
	// rows sums each row over the columns: the heartbeats may straddle a
	// minute's end.
	rows := func() []uint64 {
		out := make([]uint64, len(kv.Keys)-1)
		for _, col := range kv.Values {
			for r, v := range col {
				out[r] += v
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "the three regions' traffic in the key visualizer", func() bool {
		if code := h.do("GET", "/keyviz?last=300", nil, &kv); code != 200 {
			t.Fatalf("keyviz: %d", code)
		}
		return len(kv.Keys) == 4 && rows()[2] > 0
	})
	hexKey := func(s string) string { return hex.EncodeToString([]byte(s)) }
	if want := []string{"", hexKey("g"), hexKey("p"), ""}; strings.Join(kv.Keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %q, want %q", kv.Keys, want)
	}
	if got := rows(); got[0] != 10 || got[1] != 1<<20 || got[2] != 20 || kv.Metric != "written-bytes" {
		t.Fatalf("rows %v (metric %s), want [10 1048576 20]", got, kv.Metric)
	}
	if kv.ColumnSeconds != 60 || kv.RetentionSeconds != 6*3600 || len(kv.Times) != len(kv.Values) || kv.RetainedFrom == 0 ||
		kv.OpenColumn != len(kv.Values)-1 || kv.Times[1]-kv.Times[0] != 60 {
		t.Fatalf("frame: %+v", kv)
	}
	if code := h.do("GET", "/keyviz?last=300&metric=read-keys&start-key="+hexKey("a")+"&end-key="+hexKey("h"), nil, &kv); code != 200 ||
		len(kv.Keys) != 3 || rows()[1] != 8 || rows()[0] != 0 || kv.Max != 8 {
		t.Fatalf("read-keys over [a, h): %d %+v", code, kv)
	}
	var rv api.RegionView
	if code := h.do("GET", "/regions/200", nil, &rv); code != 200 || rv.WrittenBytes != 1<<20 || rv.WrittenKeys != 512 ||
		rv.ReadBytes != 4096 || rv.ReadKeys != 8 {
		t.Fatalf("region 200: %d %+v", code, rv)
	}
}

// TestDataEndpointsRefuseBadInput: every malformed or impossible request
// to a data endpoint answers 4xx with a message saying what is wrong.
func TestDataEndpointsRefuseBadInput(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	h := newHTTP(t, s)
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/regions/12345", 404, "region 12345 not found"},
		{"/regions/twelve", 400, "must be a number"},
		{"/regions/key/6z", 400, "hex"},
		{"/regions?start=xyz", 400, "hex"},
		{"/regions?limit=many", 400, "limit"},
		{"/operators/12345", 404, "no operator"},
		{"/keyviz?from=1&to=2000000000", 400, "longer than the history keeps"},
		{"/keyviz?last=100000", 400, "longer than the history keeps"},
		{"/keyviz?from=2000000000&to=1999999000", 400, "before it starts"},
		{"/keyviz?from=yesterday", 400, "unix seconds or RFC 3339"},
		{"/keyviz?from=-5", 400, "out of range"},
		{"/keyviz?last=-5", 400, "positive"},
		{"/keyviz?metric=cpu", 400, "unknown metric"},
		{"/keyviz?start-key=6g", 400, "start-key must be hex"},
		{"/keyviz?end-key=0", 400, "end-key must be hex"},
		{"/keyviz?start-key=7a&end-key=61", 400, "not before end key"},
		{"/keyviz?rows=0", 400, "rows"},
		{"/keyviz?rows=1000000", 400, "rows"},
	} {
		var body struct{ Error string }
		if code := h.do("GET", c.path, nil, &body); code != c.code || !strings.Contains(body.Error, c.says) {
			t.Errorf("GET %s: %d %q, want %d saying %q", c.path, code, body.Error, c.code, c.says)
		}
	}
}

// TestDashboardServed: the scheduler's HTTP address serves the dashboard
// page and its files, and sends / and /dashboard to it.
func TestDashboardServed(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	base := "http://" + s.Addr()
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	t.Cleanup(noRedirect.CloseIdleConnections)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("/dashboard/"); resp.StatusCode != 200 || !strings.Contains(body, `<script src="app.js">`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/dashboard/: %d %s\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body := get("/dashboard/app.js"); resp.StatusCode != 200 || !strings.Contains(body, "keyviz") {
		t.Fatalf("/dashboard/app.js: %d", resp.StatusCode)
	}
	for _, p := range []string{"/", "/dashboard"} {
		if resp, _ := get(p); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/dashboard/" {
			t.Fatalf("GET %s: %d to %q, want a redirect to /dashboard/", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// heartbeatServer starts a scheduler leader with cfg, bootstraps its
// cluster with store 1 and region 100 on it, and opens a region heartbeat
// stream.
func heartbeatServer(t *testing.T, cfg config.Config) (*Server, pdpbgrpc.PDClient, *pdpb.RequestHeader, pdpbgrpc.PD_RegionHeartbeatClient) {
	t.Helper()
	s := startServer(t, cfg)
	waitLeader(t, s)
	pd := rawPD(t, s.Addr())
	ctx := ctxT(t)
	hdr := &pdpb.RequestHeader{ClusterId: s.ClusterID()}
	if resp, err := pd.Bootstrap(ctx, &pdpb.BootstrapRequest{Header: hdr, Store: &metapb.Store{Id: 1, Address: "127.0.0.1:30001"},
		Region: region(100, "", "", 1, 1, peer(101, 1))}); err != nil || resp.Header.Error != nil {
		t.Fatalf("bootstrap: %v %v", resp, err)
	}
	st, err := pd.RegionHeartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, pd, hdr, st
}
