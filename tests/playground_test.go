package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

// Process-test helpers shared by playground_test.go and ctl_test.go.

// eventually polls cond until it holds, failing with what after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctlJSON runs `regionkv ctl --scheduler sched args... -o json` and decodes
// its output into v; false if the command failed.
func ctlJSON(t *testing.T, sched string, v any, args ...string) bool {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"ctl", "--scheduler", sched, "-o", "json"}, args...)...)
	if code != 0 {
		t.Logf("ctl %v: exit %d: %s", args, code, errOut)
		return false
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ctl %v: undecodable output %q: %v", args, out, err)
	}
	return true
}

type ctlStores struct {
	Count  int `json:"count"`
	Stores []struct {
		ID            uint64 `json:"id"`
		Address       string `json:"address"`
		State         string `json:"state"`
		LeaderCount   int    `json:"leader-count"`
		RegionCount   int    `json:"region-count"`
		LastHeartbeat string `json:"last-heartbeat"`
	} `json:"stores"`
}

type ctlRegions struct {
	Count   int `json:"count"`
	Regions []struct {
		ID       uint64 `json:"id"`
		StartKey string `json:"start-key"`
		EndKey   string `json:"end-key"`
		Peers    []struct {
			StoreID uint64 `json:"store-id"`
			Role    string `json:"role"`
		} `json:"peers"`
		Leader *struct {
			StoreID uint64 `json:"store-id"`
		} `json:"leader"`
	} `json:"regions"`
}

// replicated reports whether the i-th region has a leader and exactly n
// peers, all voters: a learner that joined but was not promoted yet
// counts in no quorum, so stopping a store then could leave the region
// without one.
func (r ctlRegions) replicated(i, n int) bool {
	if i >= len(r.Regions) || r.Regions[i].Leader == nil || len(r.Regions[i].Peers) != n {
		return false
	}
	for _, p := range r.Regions[i].Peers {
		if p.Role == "Learner" {
			return false
		}
	}
	return true
}

// allUp reports whether exactly n stores are listed, all Up.
func allUp(s ctlStores, n int) bool {
	if s.Count != n {
		return false
	}
	for _, st := range s.Stores {
		if st.State != "Up" {
			return false
		}
	}
	return true
}

// httpGet returns the body of GET url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// refused reports whether nothing listens on addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

var (
	playgroundStarted = regexp.MustCompile(`"playground started"\] \[addr=([^\]]+)\].*\[data-dir=([^\]]+)\]`)
	storeStatusAddr   = regexp.MustCompile(`"store server started"\] .*\[status-addr=([^\]]+)\]`)
)

// startPlayground runs `regionkv playground` on free ports and returns the
// process with its scheduler's address (gRPC and HTTP API) and data dir.
// Without --data-dir in extra, the playground makes a temporary one that
// only a clean stop removes; tests that end by killing it pass
// --data-dir t.TempDir().
func startPlayground(t *testing.T, extra ...string) (p *proc, sched, dir string) {
	t.Helper()
	p = startProc(t, append([]string{"playground", "--scheduler", "127.0.0.1:0", "--store-port", "0"}, extra...)...)
	m := p.WaitLine(t, playgroundStarted, 60*time.Second)
	return p, m[1], m[2]
}

// TestPlaygroundEndToEnd runs the real binary: the playground comes up with
// 3 stores, kv put/get/scan work through the scheduler, ctl shows the 3
// stores Up and the regions, every server serves /metrics, and SIGTERM
// stops everything: the process exits 0, its ports close and its temporary
// data dir is gone.
func TestPlaygroundEndToEnd(t *testing.T) {
	p, sched, dir := startPlayground(t)
	status := sched // the HTTP API shares the scheduler's address

	kv := func(args ...string) (string, int) {
		out, errOut, code := runCLI(t, append([]string{"kv", "--scheduler", sched}, args...)...)
		if code == 2 {
			t.Fatalf("kv %v: %s", args, errOut)
		}
		return out, code
	}
	for _, k := range []string{"apple", "banana", "cherry", "zebra"} {
		kv("put", k, "v-"+k)
	}
	if out, code := kv("get", "banana"); code != 0 || strings.TrimSpace(out) != "v-banana" {
		t.Fatalf("get banana = %q (exit %d)", out, code)
	}
	if _, code := kv("get", "durian"); code != 1 {
		t.Fatalf("get of a missing key: exit %d, want 1", code)
	}
	if out, _ := kv("scan", "a", "d"); out != "apple\tv-apple\nbanana\tv-banana\ncherry\tv-cherry\n" {
		t.Fatalf("scan a d = %q", out)
	}

	var stores ctlStores
	eventually(t, 30*time.Second, "3 stores Up in ctl store list", func() bool {
		return ctlJSON(t, status, &stores, "store", "list") && allUp(stores, 3)
	})
	var regions ctlRegions
	eventually(t, 30*time.Second, "a region with a leader in ctl region list", func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count >= 1 && regions.Regions[0].Leader != nil
	})
	if table, _, code := runCLI(t, "ctl", "--scheduler", status, "store", "list"); code != 0 || !strings.Contains(table, "ADDRESS") {
		t.Fatalf("ctl store list (table): exit %d: %q", code, table)
	}

	if m := httpGet(t, "http://"+status+"/metrics"); !strings.Contains(m, "regionkv_scheduler_region_states") ||
		!strings.Contains(m, "regionkv_scheduler_tso_requests_total") {
		t.Fatalf("scheduler /metrics lacks the scheduler metrics:\n%.2000s", m)
	}
	var storeStatus []string
	for _, m := range storeStatusAddr.FindAllStringSubmatch(p.Output(), -1) {
		storeStatus = append(storeStatus, m[1])
	}
	if len(storeStatus) != 3 {
		t.Fatalf("found %d store status addresses in the log, want 3", len(storeStatus))
	}
	leaders := 0
	for _, a := range storeStatus {
		var rv raftstore.RegionsView
		if err := json.Unmarshal([]byte(httpGet(t, "http://"+a+"/regions")), &rv); err != nil || rv.StoreID == 0 {
			t.Fatalf("store %s /regions: store-id %d, %v", a, rv.StoreID, err)
		}
		for _, pv := range rv.Peers {
			if pv.Leader && pv.Initialized && pv.Applied > 0 && pv.Applied <= pv.Commit {
				leaders++
			}
		}
		m := httpGet(t, "http://"+a+"/metrics")
		for _, name := range []string{"regionkv_raftstore_raft_rounds_total", "regionkv_raftstore_append_duration_seconds",
			"regionkv_raftstore_regions", "regionkv_raftstore_hibernating_regions",
			`regionkv_raftstore_raft_messages_sent_total{type="MsgAppend"}`} {
			if !strings.Contains(m, name) {
				t.Fatalf("store %s /metrics lacks %s", a, name)
			}
		}
		if h := httpGet(t, "http://"+a+"/health"); !strings.Contains(h, `"healthy":true`) {
			t.Fatalf("store %s /health = %s", a, h)
		}
		if g := httpGet(t, "http://"+a+"/debug/pprof/goroutine?debug=1"); !strings.Contains(g, "runRaftWorker") {
			t.Fatalf("store %s /debug/pprof/goroutine lacks the raft workers:\n%.2000s", a, g)
		}
	}

	if leaders == 0 { // more than one while leadership moves
		t.Errorf("no store's /regions shows an initialized leader with 0 < applied <= commit")
	}

	p.Terminate(t)
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("playground exited with %v after SIGTERM", err)
	}
	for _, a := range append([]string{sched}, storeStatus...) {
		if !refused(a) {
			t.Errorf("%s still accepts connections after the playground exited", a)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s still exists after exit (%v)", dir, err)
	}
	if out := p.Output(); !strings.Contains(out, "scheduler stopped") || strings.Count(out, "store server stopped") != 3 {
		t.Errorf("stop not logged for every member:\n%s", out)
	}
}

// TestPlaygroundRegionSplit: `ctl region split` then `ctl region list`
// shows the new region, and a scan across the split sees every key.
func TestPlaygroundRegionSplit(t *testing.T) {
	_, sched, _ := startPlayground(t, "--data-dir", t.TempDir())
	status := sched
	for _, k := range []string{"a", "m", "z"} {
		if _, errOut, code := runCLI(t, "kv", "--scheduler", sched, "put", k, k); code != 0 {
			t.Fatalf("put %s: %s", k, errOut)
		}
	}
	var regions ctlRegions
	// Wait for the region's three replicas: a split submitted while the
	// replica checker still adds one races that conf change, and the
	// scheduler drops the split operator when the epoch moves under it.
	eventually(t, 30*time.Second, "one region with a leader and three replicas", func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count == 1 && regions.replicated(0, 3)
	})
	id := regions.Regions[0].ID
	if out, errOut, code := runCLI(t, "ctl", "--scheduler", status, "region", "split", strconv.FormatUint(id, 10), "--keys", "m"); code != 0 {
		t.Fatalf("ctl region split: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 30*time.Second, "two regions split at m", func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count == 2 &&
			regions.Regions[0].EndKey == "6d" && regions.Regions[1].StartKey == "6d"
	})
	out, _, code := runCLI(t, "kv", "--scheduler", sched, "scan", "a", "~")
	if code != 0 || out != "a\ta\nm\tm\nz\tz\n" {
		t.Fatalf("scan across the split = %q (exit %d)", out, code)
	}
}

// TestServerConfigFileAndLogFile runs `regionkv server` from a TOML file
// with a flag overriding one of its keys, logging to --log-file: the log
// goes to the file, the flag wins over the file, SIGTERM stops the server
// with status 0 and a logged stop. A file with an unknown key is refused
// with the key's name.
func TestServerConfigFileAndLogFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "store.toml")
	body := fmt.Sprintf("addr = \"127.0.0.1:0\"\nstandalone = true\ndata-dir = %q\nmax-key-size = 4\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "store.log")
	p := startProc(t, "--log-file", logPath, "server", "--config", cfgPath, "--max-key-size", "8")
	started := regexp.MustCompile(`"store server started"\] \[addr=([^\]]+)\]`)
	var addr string
	eventually(t, 30*time.Second, "the started line in --log-file", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := started.FindSubmatch(b); m != nil {
			addr = string(m[1])
			return true
		}
		return false
	})
	if _, errOut, code := runCLI(t, "kv", "--addr", addr, "put", "sixkey", "v"); code != 0 {
		t.Fatalf("put of a 6-byte key with --max-key-size 8 over the file's 4: %s", errOut)
	}
	if _, _, code := runCLI(t, "kv", "--addr", addr, "put", "ninebytes", "v"); code != 2 {
		t.Fatalf("put of a 9-byte key: exit %d, want 2", code)
	}
	p.Terminate(t)
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("server exited with %v after SIGTERM", err)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "store server stopped") {
		t.Fatalf("stop not logged to --log-file:\n%s", b)
	}
	if strings.Contains(p.Output(), "store server") {
		t.Fatalf("logs went to stderr despite --log-file:\n%s", p.Output())
	}

	if err := os.WriteFile(cfgPath, []byte(body+"max-key-sise = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "server", "--config", cfgPath)
	if code != 2 || !strings.Contains(errOut, "max-key-sise") {
		t.Fatalf("unknown key: exit %d, stderr %q; want 2 naming max-key-sise", code, errOut)
	}
}
