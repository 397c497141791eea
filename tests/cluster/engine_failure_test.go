package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestEngineFailureStopsTheStore: when a store's engines start failing
// every write (a broken device), the store fails cleanly — Failed closes
// and Err names the engine operation and its error — without a panic, and
// no write acknowledged before or after is lost: once the store restarts
// on working engines, every acknowledged value is read back.
func TestEngineFailureStopsTheStore(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 31})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	// For each key, the values a reader may see: the last acknowledged
	// one, and those of writes after it whose outcome is unknown.
	acked := map[string]string{}
	maybe := map[string][]string{}
	put := func(k, v string) {
		switch cl.Put(ctx, k, v) {
		case OK:
			acked[k], maybe[k] = v, nil
		case Unknown:
			maybe[k] = append(maybe[k], v)
		}
	}
	for i := 0; i < 20; i++ {
		put(fmt.Sprintf("k%02d", i), "before")
	}
	if len(acked) != 20 {
		t.Fatalf("only %d of 20 writes acknowledged before the failure", len(acked))
	}
	victim, err := c.Leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n := c.node(victim)
	n.fenced.Store(true) // every write to its engines fails from now on
	// Writes go on; the victim's next write fails and the store stops
	// taking work, so the others elect a leader and the writes succeed.
	for i := 0; i < 40; i++ {
		put(fmt.Sprintf("k%02d", i), fmt.Sprintf("after-%d", i))
	}
	select {
	case <-n.Store.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("store did not fail on its failing engines")
	}
	if err := n.Store.Err(); !errors.Is(err, errCrashed) {
		t.Fatalf("store failed with %v, want the engine's error", err)
	}
	c.Crash(victim) // stops it; its engines close
	c.Restart(victim)
	ctx2, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for k, v := range acked {
		got, found, err := cl.Get(ctx2, k)
		if err != nil || !found || (got != v && !slices.Contains(maybe[k], got)) {
			t.Fatalf("acknowledged %s=%q (then maybe %q) read back as %q (found %t, %v)", k, v, maybe[k], got, found, err)
		}
	}
	// The restarted store caught up: it leads or follows with everything.
	waitFor(t, 30*time.Second, "the restarted store to apply everything", func() bool {
		st, err := c.Status(victim)
		return err == nil && st.Applied > 0 && st.Applied == st.Commit
	})
}
