package ctl

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/regionkv/regionkv/scheduler/api"
)

// TestHot: `ctl hot read|write` asks for the kind, order and limit given
// and shows rates for people; `ctl hot store` each store's loads; bad flags
// are usage errors that ask nothing.
func TestHot(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	sched := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case api.Prefix + "/hotspot/regions/write":
			_ = json.NewEncoder(w).Encode(api.HotRegionsView{Kind: "write", By: "queries", Total: 3, Regions: []api.HotRegionView{
				{RegionID: 7, LeaderStore: 1, Stores: []uint64{1, 2, 3}, StartKey: hex.EncodeToString([]byte("k1")),
					Rates: api.Rates{Bytes: 3 << 20, Keys: 1500, Queries: 1500}, HotDegree: 4, Hot: true},
			}})
		case api.Prefix + "/hotspot/stores":
			_ = json.NewEncoder(w).Encode(map[string]any{"stores": []api.StoreLoadView{
				{StoreID: 1, ReadLeader: api.Rates{Bytes: 2048, Queries: 20}, WriteLeader: api.Rates{Bytes: 3 << 20, Queries: 1500},
					WritePeer: api.Rates{Bytes: 3 << 20}, HotReadLeaders: 0, HotWriteLeaders: 1, HotWritePeers: 1},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer sched.Close()
	code, out, errOut := runCtl(t, "--scheduler", sched.URL, "hot", "write", "--by", "queries", "--limit", "1")
	if code != 0 {
		t.Fatalf("hot write: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"QUERIES", "7 ", "1,2,3", "k1", "3 MiB/s", "1500/s", "(1 of 3 regions)"} {
		if !strings.Contains(out, want) {
			t.Errorf("hot write table lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCtl(t, "--scheduler", sched.URL, "hot", "store")
	if code != 0 || !strings.Contains(out, "2 KiB/s") || !strings.Contains(out, "0/1") {
		t.Fatalf("hot store: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCtl(t, "--scheduler", sched.URL, "hot", "store", "-o", "json")
	var v struct{ Stores []api.StoreLoadView }
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Stores) != 1 || v.Stores[0].HotWriteLeaders != 1 {
		t.Fatalf("hot store json: exit %d %s", code, out)
	}
	for _, args := range [][]string{{"hot", "read", "--by", "cpu"}, {"hot", "write", "--limit", "0"}, {"hot", "read", "extra"}} {
		if code, _, errOut := runCtl(t, append([]string{"--scheduler", sched.URL}, args...)...); code != 2 || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		api.Prefix + "/hotspot/regions/write?all=false&by=queries&limit=1",
		api.Prefix + "/hotspot/stores?", api.Prefix + "/hotspot/stores?",
	}
	if strings.Join(asked, "\n") != strings.Join(want, "\n") {
		t.Fatalf("asked\n%s\nwant\n%s", strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
}
