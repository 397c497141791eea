package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client"
)

var (
	schedulerStarted = regexp.MustCompile(`"scheduler started"\] .*\[addr=([^\]]+)\]`)
	storeStarted     = regexp.MustCompile(`"store server started"\] \[addr=([^\]]+)\] \[status-addr=([^\]]+)\] \[store-id=(\d+)\]`)
)

// storeProc is one `regionkv server` process of a multi-process cluster.
type storeProc struct {
	p                 *proc
	dir, addr, status string
	id                string
	sched             string
}

func startStore(t *testing.T, sched, dir, addr string) *storeProc {
	t.Helper()
	p := startProc(t, "server", "--scheduler", sched, "--addr", addr, "--status-addr", "127.0.0.1:0", "--data-dir", dir)
	m := p.WaitLine(t, storeStarted, 60*time.Second)
	return &storeProc{p: p, dir: dir, addr: m[1], status: m[2], id: m[3], sched: sched}
}

// TestCtlMultiProcessKill9 runs a scheduler and 3 stores as separate
// processes on loopback, kills one store with SIGKILL while a client
// writes, checks that writes continue, restarts the store on its data dir
// and address, and checks that ctl shows it Up again (heartbeating after
// the restart), that no region reports down or pending replicas, and that
// every acknowledged write is readable. Then SIGTERM stops every process
// cleanly (exit status 0).
func TestCtlMultiProcessKill9(t *testing.T) {
	base := t.TempDir()
	sp := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler"))
	m := sp.WaitLine(t, schedulerStarted, 60*time.Second)
	sched := m[1]
	status := sched // ctl reaches the HTTP API at the gRPC address

	stores := make([]*storeProc, 3)
	for i := range stores {
		stores[i] = startStore(t, sched, filepath.Join(base, fmt.Sprintf("store-%d", i+1)), "127.0.0.1:0")
	}
	var st ctlStores
	eventually(t, 30*time.Second, "3 stores Up", func() bool { return ctlJSON(t, status, &st, "store", "list") && allUp(st, 3) })
	var regions ctlRegions
	eventually(t, 30*time.Second, "a region with a leader", func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count >= 1 && regions.Regions[0].Leader != nil
	})

	// A writer records every acknowledged key.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewRawClient(ctx, []string{sched})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			k := fmt.Sprintf("key-%06d", i)
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Put(wctx, []byte(k), []byte("v"+k))
			wcancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
				n.Add(1)
			}
		}
	}()
	eventually(t, 30*time.Second, "writes before the kill", func() bool { return n.Load() >= 20 })

	// Give the scheduler a moment to replicate the first region fully (3
	// peers, none pending), as it does once the stores execute membership
	// changes; then kill a store whose loss leaves every region a quorum:
	// one that does not lead, and, if the region has fewer than 3 peers, one
	// that holds none of them.
	var pending ctlRegions
	replicated := func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count >= 1 && regions.replicated(0, 3) && ctlJSON(t, status, &pending, "region", "check", "pending") && pending.Count == 0
	}
	for deadline := time.Now().Add(10 * time.Second); !replicated() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	first := regions.Regions[0]
	holds := map[string]bool{}
	for _, p := range first.Peers {
		holds[fmt.Sprint(p.StoreID)] = true
	}
	var victim *storeProc
	for _, s := range stores {
		if s.id != fmt.Sprint(first.Leader.StoreID) && (len(first.Peers) == 3 || !holds[s.id]) {
			victim = s
			break
		}
	}
	if victim == nil {
		t.Fatalf("no store can go without losing a quorum: region %+v", first)
	}
	t.Logf("region %d has %d peers; killing store %s", first.ID, len(first.Peers), victim.id)
	victim.p.Kill()
	before := n.Load()
	eventually(t, 30*time.Second, "writes to continue after kill -9", func() bool { return n.Load() >= before+20 })

	restarted := time.Now()
	again := startStore(t, sched, victim.dir, victim.addr)
	if again.id != victim.id {
		t.Fatalf("restarted store has id %s, want %s", again.id, victim.id)
	}
	eventually(t, 30*time.Second, "the restarted store Up and heartbeating", func() bool {
		if !ctlJSON(t, status, &st, "store", "list") || !allUp(st, 3) {
			return false
		}
		for _, s := range st.Stores {
			if fmt.Sprint(s.ID) == victim.id {
				hb, err := time.Parse(time.RFC3339Nano, s.LastHeartbeat)
				return err == nil && hb.After(restarted) && s.Address == victim.addr
			}
		}
		return false
	})
	eventually(t, 30*time.Second, "no region with down or pending replicas", func() bool {
		var down, pending ctlRegions
		return ctlJSON(t, status, &down, "region", "check", "down") && down.Count == 0 &&
			ctlJSON(t, status, &pending, "region", "check", "pending") && pending.Count == 0
	})
	after := n.Load()
	eventually(t, 30*time.Second, "writes after the restart", func() bool { return n.Load() >= after+20 })
	cancel()
	wg.Wait()

	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	r, err := client.NewRawClient(rctx, []string{sched})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, k := range acked {
		v, err := r.Get(rctx, []byte(k))
		if err != nil || string(v) != "v"+k {
			t.Fatalf("acknowledged %s: got %q, %v", k, v, err)
		}
	}
	t.Logf("%d acknowledged writes, all readable", len(acked))

	for _, s := range []*storeProc{stores[0], stores[1], stores[2], again} {
		if s == victim {
			continue
		}
		s.p.Terminate(t)
	}
	for _, s := range []*storeProc{stores[0], stores[1], stores[2], again} {
		if s == victim {
			continue
		}
		if err := s.p.Wait(t, 30*time.Second); err != nil {
			t.Errorf("store %s exited with %v after SIGTERM", s.id, err)
		}
		if !strings.Contains(s.p.Output(), "store server stopped") {
			t.Errorf("store %s did not log its stop", s.id)
		}
	}
	sp.Terminate(t)
	if err := sp.Wait(t, 30*time.Second); err != nil {
		t.Errorf("scheduler exited with %v after SIGTERM", err)
	}
}
