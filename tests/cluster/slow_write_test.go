package cluster

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestSlowWriteIsLogged: a write stuck on a leader cut off from its
// followers is reported in the store's log twice over: by the leader, once
// the proposal has waited past 5 s, with the group's state; and when the
// caller gives up, with the region's state as the peer sees it.
func TestSlowWriteIsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	c := New(t, Options{Stores: 3, Seed: 7, Logger: zap.New(core)})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "a", "1")
	leader, err := c.Leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Net.Isolate(leader, c.StoreIDs())
	cl.AttemptTimeout = 7 * time.Second
	cl.leader = leader // the client still believes in the old leader
	if out := cl.Put(testCtx(t, 7*time.Second), "a", "2"); out == OK {
		t.Fatal("a write on an isolated leader succeeded")
	}
	waitFor := func(msg string) *observer.LoggedEntry {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if es := logs.FilterMessage(msg).All(); len(es) > 0 {
				return &es[0]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no %q in the log; warnings: %v", msg, logs.All())
		return nil
	}
	slow := waitFor("proposal waiting long for apply")
	if f := slow.ContextMap(); f["region-id"] == nil || f["waited"] == nil || f["commit"] == nil {
		t.Errorf("slow proposal warning lacks its fields: %v", f)
	}
	gaveUp := waitFor("write unanswered before its deadline")
	if f := gaveUp.ContextMap(); f["region-id"] == nil || f["pending-proposals"] == nil {
		t.Errorf("unanswered write warning lacks its fields: %v", f)
	}
	c.Net.Recover()
}
