package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond (raft state has no notification to wait on).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSnapshotCatchUpAcrossLogGC partitions a follower, writes far past the
// GC limit so the leader truncates beyond it, heals, and checks the
// follower catches up by snapshot with all data, and the files are gone.
func TestSnapshotCatchUpAcrossLogGC(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 21})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "before", "1")
	l, err := c.Leader(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lagger := l%3 + 1
	c.Net.Isolate(lagger, c.StoreIDs())
	for i := 0; i < 400; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("k%04d", i), strings.Repeat("x", 100))
	}
	lag, _ := c.Status(lagger)
	waitFor(t, 10*time.Second, "leader log GC past the lagging follower", func() bool {
		st, err := c.Status(l)
		return err == nil && st.Truncated > lag.LastIndex
	})
	c.Net.Recover()
	var want uint64
	waitFor(t, 20*time.Second, "follower catch-up", func() bool {
		ls, err1 := c.Status(l)
		fs, err2 := c.Status(lagger)
		want = ls.Applied
		return err1 == nil && err2 == nil && fs.Applied >= ls.Applied && fs.Truncated > lag.LastIndex
	})
	waitFor(t, 10*time.Second, "snapshot files cleaned", func() bool {
		for _, id := range c.StoreIDs() {
			for _, f := range c.SnapFiles(id) {
				if strings.HasPrefix(f, "rcv_") || strings.HasSuffix(f, ".tmp") {
					return false
				}
			}
		}
		return true
	})
	// Check the follower's own kv data.
	n := c.node(lagger)
	snap, err := n.Engines.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for _, k := range []string{"before", "k0000", "k0399"} {
		v, err := snap.GetCF("", []byte(k))
		if err != nil || v == nil {
			t.Fatalf("follower misses %s after catch-up (applied %d): %v", k, want, err)
		}
	}
}

// TestLogStaysBounded writes under load and samples applied - truncated on
// every store; it must stay within twice the GC limit.
func TestLogStaysBounded(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 22})
	limit := c.cfg.RaftLogGCCountLimit
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var writes atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.NewClient(uint64(i))
			for j := 0; ctx.Err() == nil; j++ {
				if cl.Put(ctx, fmt.Sprintf("c%d-%d", i, j%50), "v") == OK {
					writes.Add(1)
				}
			}
		}(i)
	}
	var worst uint64
	for ctx.Err() == nil {
		for _, id := range c.StoreIDs() {
			if st, err := c.Status(id); err == nil && st.Applied-st.Truncated > worst {
				worst = st.Applied - st.Truncated
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d writes; worst applied-truncated %d (limit %d)", writes.Load(), worst, limit)
	if writes.Load() < 3*int64(limit) {
		t.Fatalf("only %d writes: the log never needed GC", writes.Load())
	}
	if worst > 2*limit {
		t.Fatalf("log grew to %d entries, over twice the GC limit %d", worst, limit)
	}
}

// TestMinorityMakesNoProgress isolates the leader with nobody: writes to it
// never succeed, the majority elects a new leader and goes on, and after
// healing the old leader's side has everything.
func TestMinorityMakesNoProgress(t *testing.T) {
	c := New(t, Options{Stores: 5, Seed: 23})
	ctx := testCtx(t, 30*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "a", "1")
	l, err := c.Leader(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other := l%5 + 1
	c.Net.Partition([]uint64{l, other}, without(c.StoreIDs(), l, other))
	// Directly at the old leader: a write must not succeed.
	old := &Client{c: c, leader: l, rnd: cl.rnd, AttemptTimeout: 300 * time.Millisecond}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	if out := old.putAt(wctx, l, "minority", "x"); out == OK {
		t.Fatal("a write succeeded on the minority side")
	}
	cancel()
	mustPut(t, cl, ctx, "majority", "2")
	c.Net.Recover()
	mustPut(t, cl, ctx, "after", "3")
	if v, ok := mustGet(t, cl, ctx, "majority"); !ok || v != "2" {
		t.Fatalf("majority write lost: %q %v", v, ok)
	}
}

func without(ids []uint64, drop ...uint64) []uint64 {
	var out []uint64
outer:
	for _, id := range ids {
		for _, d := range drop {
			if id == d {
				continue outer
			}
		}
		out = append(out, id)
	}
	return out
}

// TestAcknowledgedWritesSurviveCrashes crashes every store repeatedly under
// load and reads back every acknowledged write.
func TestAcknowledgedWritesSurviveCrashes(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 24})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.NewClient(uint64(i))
			for j := 0; ctx.Err() == nil; j++ {
				k := fmt.Sprintf("c%d-%05d", i, j)
				if cl.Put(ctx, k, k) == OK {
					mu.Lock()
					acked[k] = k
					mu.Unlock()
				}
			}
		}(i)
	}
	for pause(ctx, time.Second) {
		for _, id := range c.StoreIDs() {
			c.Crash(id)
		}
		for _, id := range c.StoreIDs() {
			c.Restart(id)
		}
	}
	wg.Wait()
	rctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(99)
	for k, v := range acked {
		if got, ok := mustGet(t, cl, rctx, k); !ok || got != v {
			t.Fatalf("acknowledged write %s lost (got %q %v)", k, got, ok)
		}
	}
	t.Logf("%d acknowledged writes all present", len(acked))
}
