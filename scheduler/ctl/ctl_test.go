package ctl

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/scheduler/api"
)

func TestAgeAndSize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		4 * time.Second: "4s ago", 200 * time.Second: "3m20s ago", 2*time.Hour + 5*time.Minute + 7*time.Second: "2h5m ago",
		76 * time.Hour: "3d4h ago", 500 * time.Millisecond: "0s ago", -9 * time.Minute: "in 9m",
	} {
		if got := age(now.Add(-d).Format(time.RFC3339Nano), now); got != want {
			t.Errorf("age of %v = %q, want %q", d, got, want)
		}
	}
	if got := age("", now); got != "never" {
		t.Errorf("age of nothing = %q", got)
	}
	if got := age(time.Time{}.Format(time.RFC3339Nano), now); got != "never" {
		t.Errorf("age of the zero time = %q", got)
	}
	if got := size(96 << 20); got != "96 MiB" {
		t.Errorf("size = %q", got)
	}
}

// fakeScheduler serves the API paths ctl's store commands use, and records
// what it was asked.
type fakeScheduler struct {
	mu     sync.Mutex
	stores []api.StoreView
	asked  []string
}

func (f *fakeScheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, _ := io.ReadAll(r.Body)
	f.asked = append(f.asked, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(body)))
	stores := f.stores
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case api.Prefix + "/stores":
		_ = json.NewEncoder(w).Encode(map[string]any{"count": len(stores), "stores": stores})
	case api.Prefix + "/schedulers/balance-region/pause":
		_ = json.NewEncoder(w).Encode(map[string]any{"running": []any{}, "available": []string{"balance-region"}})
	default:
		http.NotFound(w, r)
	}
}

func runCtl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := &cobra.Command{Use: "regionkv"}
	root.AddCommand(NewCommand())
	cli.Prepare(root)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	code = cli.Execute(root, append([]string{"ctl"}, args...), &errb)
	return code, out.String(), errb.String()
}

// TestStoreHealth: every store but Tombstone ones is asked for /health at
// its registered status address; one not healthy, unreachable or without
// a status address makes the command exit 1, and the table says which.
func TestStoreHealth(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"healthy":true,"store-id":1}`)
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"healthy":false,"starting":true}`)
	}))
	defer sick.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	f := &fakeScheduler{}
	sched := httptest.NewServer(f)
	defer sched.Close()

	f.stores = []api.StoreView{
		{ID: 1, Address: "s1", State: "Up", StatusAddress: host(healthy)},
		{ID: 2, Address: "s2", State: "Tombstone", StatusAddress: "127.0.0.1:1"},
	}
	// The scheduler's address without http://, as every tool takes it.
	if code, out, errOut := runCtl(t, "--scheduler", host(sched), "store", "health"); code != 0 ||
		!strings.Contains(out, "1   s1") || strings.Contains(out, "s2") {
		t.Fatalf("all healthy: exit %d\n%s%s", code, out, errOut)
	}

	f.mu.Lock()
	f.stores = append(f.stores,
		api.StoreView{ID: 3, Address: "s3", State: "Up", StatusAddress: host(sick)},
		api.StoreView{ID: 4, Address: "s4", State: "Disconnected"})
	f.mu.Unlock()
	code, out, errOut := runCtl(t, "--scheduler", host(sched), "store", "health", "-o", "json")
	if code != 1 {
		t.Fatalf("a sick store: exit %d, want 1\n%s%s", code, out, errOut)
	}
	var rows []storeHealth
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("json %q: %v", out, err)
	}
	for _, r := range rows {
		if r.Healthy != (r.ID == 1) || (r.ID != 1 && r.Error == "") {
			t.Errorf("store %d: %+v", r.ID, r)
		}
	}
}

// TestSchedulerFromEnvironmentAndResume: with no --scheduler, ctl asks
// $REGIONKV_SCHEDULER (or the legacy variable); resume un-pauses a
// scheduler.
func TestSchedulerFromEnvironmentAndResume(t *testing.T) {
	f := &fakeScheduler{}
	sched := httptest.NewServer(f)
	defer sched.Close()
	t.Setenv(cli.SchedulerEnv, "")
	t.Setenv(legacySchedulerEnv, sched.URL)
	if code, out, errOut := runCtl(t, "scheduler", "resume", "balance-region"); code != 0 {
		t.Fatalf("resume via the legacy variable: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(legacySchedulerEnv, "http://127.0.0.1:1")
	t.Setenv(cli.SchedulerEnv, strings.TrimPrefix(sched.URL, "http://"))
	if code, out, errOut := runCtl(t, "scheduler", "pause", "balance-region", "1h"); code != 0 {
		t.Fatalf("pause via %s: exit %d\n%s%s", cli.SchedulerEnv, code, out, errOut)
	}
	want := []string{
		`POST /api/v1/schedulers/balance-region/pause {"seconds":0}`,
		`POST /api/v1/schedulers/balance-region/pause {"seconds":3600}`,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Join(f.asked, "\n") != strings.Join(want, "\n") {
		t.Fatalf("asked\n%s\nwant\n%s", strings.Join(f.asked, "\n"), strings.Join(want, "\n"))
	}
	if code, _, errOut := runCtl(t, "scheduler", "pause", "balance-region", "soon"); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Fatalf("bad duration: exit %d, %s", code, errOut)
	}
}
