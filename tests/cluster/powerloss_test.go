package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// ackLog records acknowledged writes of unique keys.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]string
}

// runAckedWriters runs n clients that put unique keys until ctx is done.
func runAckedWriters(ctx context.Context, c *Cluster, n int, seed uint64, wg *sync.WaitGroup) *ackLog {
	log := &ackLog{acked: map[string]string{}}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.NewClient(seed*7919 + uint64(i))
			for j := 0; ctx.Err() == nil; j++ {
				k := fmt.Sprintf("ack-%d-%05d", i, j)
				octx, cancel := context.WithTimeout(ctx, 3*time.Second)
				if cl.Put(octx, k, k) == OK {
					log.mu.Lock()
					log.acked[k] = k
					log.mu.Unlock()
				}
				cancel()
			}
		}(i)
	}
	return log
}

// checkAcked reads every acknowledged write back through the cluster, then
// waits for every store to apply up to the leader and checks each store's
// own kv DB holds them too.
func checkAcked(t *testing.T, c *Cluster, log *ackLog) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(4242)
	got, err := cl.Scan(ctx, "ack-", "ack.", 10000)
	if err != nil {
		t.Fatalf("seed %d: scan back: %v", c.opts.Seed, err)
	}
	seen := make(map[string]string, len(got))
	for _, kv := range got {
		seen[kv[0]] = kv[1]
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.acked) == 0 {
		t.Fatalf("seed %d: no write was acknowledged", c.opts.Seed)
	}
	for k, v := range log.acked {
		if seen[k] != v {
			t.Fatalf("seed %d: acknowledged write %s lost (read %q)", c.opts.Seed, k, seen[k])
		}
	}
	// Every store, including those that lost power last, replayed them.
	l, err := c.Leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := c.Status(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.StoreIDs() {
		waitFor(t, 20*time.Second, fmt.Sprintf("store %d to apply %d", id, ls.Commit), func() bool {
			st, err := c.Status(id)
			return err == nil && st.Applied >= ls.Commit
		})
		snap, err := c.node(id).Engines.NewSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range log.acked {
			if got, err := snap.GetCF("", []byte(k)); err != nil || string(got) != v {
				snap.Close()
				t.Fatalf("seed %d: store %d misses acknowledged %s (%q, %v)", c.opts.Seed, id, k, got, err)
			}
		}
		snap.Close()
	}
	t.Logf("seed %d: %d acknowledged writes present on every store", c.opts.Seed, len(log.acked))
}

// runPowerLoss runs porcupine-checked clients and acknowledged-write
// writers while fault runs, then checks both.
func runPowerLoss(t *testing.T, c *Cluster, d time.Duration, fault func(ctx context.Context) (lost uint64)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	acked := runAckedWriters(ctx, c, 3, c.opts.Seed, &wg)
	var lost uint64
	done := make(chan struct{})
	go func() { defer close(done); lost = fault(ctx) }()
	h := c.RunClients(ctx, 4, 5, c.opts.Seed)
	wg.Wait()
	<-done
	t.Logf("seed %d: %d ops completed, %d unknown; %d applied entries lost to power loss and replayed",
		c.opts.Seed, h.Completed, h.Unknown, lost)
	switch h.Check(60 * time.Second) {
	case porcupine.Illegal:
		t.Fatalf("seed %d: history is not linearizable", c.opts.Seed)
	case porcupine.Unknown:
		t.Logf("seed %d: linearizability check timed out", c.opts.Seed)
	}
	if h.Completed < 20 {
		t.Fatalf("seed %d: only %d operations completed", c.opts.Seed, h.Completed)
	}
	if lost == 0 {
		t.Fatalf("seed %d: no power loss took an applied entry: replay was not exercised", c.opts.Seed)
	}
	checkAcked(t, c, acked)
}

// TestPowerLossAllStoresMidLoad cuts power to every store at once under
// load, repeatedly. Each kv DB falls back to its last sync; the raft logs
// must still hold everything after it (log GC never truncates past a
// durably applied index), so replay restores every acknowledged write.
func TestPowerLossAllStoresMidLoad(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 31, PowerLoss: true})
	runPowerLoss(t, c, 7*time.Second, func(ctx context.Context) (lost uint64) {
		for pause(ctx, 1200*time.Millisecond) {
			var reps []PowerLossReport
			for _, id := range c.StoreIDs() {
				reps = append(reps, c.PowerLoss(id))
			}
			for i, id := range c.StoreIDs() {
				lost += reps[i].Lost()
				c.Restart(id)
			}
		}
		return lost
	})
	for _, id := range c.StoreIDs() {
		t.Logf("store %d: %d kv durable points", id, c.Checkpoints(id))
	}
}

// TestPowerLossOneStoreMidLoad cuts power to one store at a time (the
// leader every other time) while the others go on; the store replays its
// own log on restart, or catches up by snapshot if it fell behind GC.
func TestPowerLossOneStoreMidLoad(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 32, PowerLoss: true})
	runPowerLoss(t, c, 7*time.Second, func(ctx context.Context) (lost uint64) {
		for round := 0; pause(ctx, 700*time.Millisecond); round++ {
			victim := uint64(round%3 + 1)
			if round%2 == 0 {
				if l, err := c.Leader(2 * time.Second); err == nil {
					victim = l
				}
			}
			lost += c.PowerLoss(victim).Lost()
			pause(ctx, 300*time.Millisecond)
			c.Restart(victim)
		}
		return lost
	})
}
