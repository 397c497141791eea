package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// Leader leases under clock faults. The lease is a wall-clock deadline
// renewed by quorum acknowledgements; ticks drive elections, heartbeats and
// check-quorum. A leader whose ticks stop (or slow down) keeps believing it
// leads, so only the lease's own clock may stop it from serving reads.

// TestLeaseDeposedLeaderClockFault stops the leader's ticks (or runs them
// 8 times slow), isolates it, lets the others elect a leader and
// acknowledge a newer write, then reads at the old leader, which still
// believes it leads (check-quorum runs on its ticks): the read must not be
// answered from its lease with the older value. Concurrent clients run
// throughout and the history is checked with porcupine.
func TestLeaseDeposedLeaderClockFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate int
		seed uint64
	}{{"stopped", -1, 51}, {"slow-8x", 8, 52}} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(t, Options{Stores: 3, Seed: tc.seed})
			probes, stillLeader := 0, 0
			runChecked(t, c, 4, 5*time.Second, func(ctx context.Context) {
				cl := c.NewClient(77)
				for round := 0; pause(ctx, 200*time.Millisecond); round++ {
					l, err := c.Leader(2 * time.Second)
					if err != nil {
						continue
					}
					key, old, fresh := "lease-probe", fmt.Sprintf("old-%d", round), fmt.Sprintf("new-%d", round)
					// Written through l just now: its lease is as fresh as it gets.
					if cl.Put(ctx, key, old) != OK {
						continue
					}
					c.SetTickRate(l, tc.rate)
					c.Net.Isolate(l, c.StoreIDs())
					if putMajority(ctx, c, cl, l, key, fresh) {
						if st, err := c.Status(l); err == nil && st.Leader {
							stillLeader++
						}
						probes++
						if v, served := readAt(ctx, c, l, key, 300*time.Millisecond); served && v != fresh {
							t.Errorf("seed %d: deposed leader %d served %q after %q was acknowledged", c.opts.Seed, l, v, fresh)
						}
					}
					c.Net.Recover()
					waitFor(t, 5*time.Second, "old leader steps down", func() bool {
						st, err := c.Status(l)
						return err == nil && !st.Leader
					})
					c.SetTickRate(l, 1)
				}
			})
			t.Logf("seed %d: %d probes at a deposed leader, %d while it still believed it led", c.opts.Seed, probes, stillLeader)
			if stillLeader == 0 {
				t.Fatalf("seed %d: never probed a leader that still believed it led", c.opts.Seed)
			}
		})
	}
}

// putMajority writes key at the stores other than isolated until one of
// them, once elected, acknowledges it (3 s at most).
func putMajority(ctx context.Context, c *Cluster, cl *Client, isolated uint64, key, value string) bool {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, id := range without(c.StoreIDs(), isolated) {
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			out := cl.putAt(pctx, id, key, value)
			cancel()
			if out == OK {
				return true
			}
		}
		pause(ctx, 20*time.Millisecond) // waiting for an election
	}
	return false
}

// readAt sends one RawGet to store id; served reports whether it answered
// with a value (not a region error or a timeout).
func readAt(ctx context.Context, c *Cluster, id uint64, key string, d time.Duration) (string, bool) {
	s := c.server(id)
	if s == nil {
		return "", false
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	r, err := s.RawGet(rctx, &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: c.region.RegionEpoch}, Key: []byte(key)})
	if err != nil || r.RegionError != nil || r.Error != "" {
		return "", false
	}
	return string(r.Value), true
}
