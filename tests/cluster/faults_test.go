package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// runChecked runs concurrent clients while fault runs, then checks the
// history for linearizability.
func runChecked(t *testing.T, c *Cluster, clients int, d time.Duration, fault func(ctx context.Context)) *History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); fault(ctx) }()
	h := c.RunClients(ctx, clients, 5, c.opts.Seed)
	<-done
	res := h.Check(60 * time.Second)
	sent, dropped := c.Net.Stats()
	t.Logf("seed %d: %d ops completed, %d unknown; network sent %d dropped %d", c.opts.Seed, h.Completed, h.Unknown, sent, dropped)
	switch res {
	case porcupine.Illegal:
		t.Fatalf("seed %d: history is not linearizable", c.opts.Seed)
	case porcupine.Unknown:
		t.Logf("seed %d: linearizability check timed out", c.opts.Seed)
	}
	if h.Completed < 20 {
		t.Fatalf("seed %d: only %d operations completed", c.opts.Seed, h.Completed)
	}
	return h
}

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func TestLinearizableLeaderCrash(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 11})
	runChecked(t, c, 4, 6*time.Second, func(ctx context.Context) {
		for pause(ctx, 800*time.Millisecond) {
			l, err := c.Leader(2 * time.Second)
			if err != nil {
				continue
			}
			c.Crash(l)
			if !pause(ctx, 600*time.Millisecond) {
				c.Restart(l)
				return
			}
			c.Restart(l)
		}
	})
}

func TestLinearizablePartitions(t *testing.T) {
	c := New(t, Options{Stores: 5, Seed: 12})
	ids := c.StoreIDs()
	runChecked(t, c, 4, 8*time.Second, func(ctx context.Context) {
		for round := 0; pause(ctx, 500*time.Millisecond); round++ {
			l, err := c.Leader(2 * time.Second)
			if err != nil {
				continue
			}
			var minority, majority []uint64
			minority = append(minority, l)
			for _, id := range ids {
				if id == l {
					continue
				}
				if len(minority) < 2 && round%2 == 0 {
					minority = append(minority, id)
				} else {
					majority = append(majority, id)
				}
			}
			// The old leader ends on the minority side.
			c.Net.Partition(minority, majority)
			pause(ctx, 1200*time.Millisecond)
			c.Net.Recover()
		}
		c.Net.Recover()
	})
}

func TestLinearizableUnreliableNetwork(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 13})
	c.Net.SetUnreliable(0.1, 0.1, 15*time.Millisecond)
	runChecked(t, c, 6, 6*time.Second, func(ctx context.Context) { <-ctx.Done() })
	c.Net.Recover()
}

func TestLinearizableCrashAllMidLoad(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 14})
	runChecked(t, c, 4, 7*time.Second, func(ctx context.Context) {
		for pause(ctx, 1500*time.Millisecond) {
			for _, id := range c.StoreIDs() {
				c.Crash(id)
			}
			for _, id := range c.StoreIDs() {
				c.Restart(id)
			}
		}
	})
}
