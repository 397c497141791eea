package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

func hibernateTweak(cfg *raftstore.Config) {
	cfg.HibernateRegions = true
	cfg.HibernateIdleTicks = 10
	cfg.StoreProbeInterval = 100 * time.Millisecond
	cfg.StoreDeadDuration = 600 * time.Millisecond
}

func totalAwake(c *Cluster) int {
	n := 0
	for _, id := range c.StoreIDs() {
		if s := c.store(id); s != nil {
			n += s.AwakeRegions()
		}
	}
	return n
}

// TestHibernation splits into 20 regions, waits until every region on
// every store stops ticking, wakes one with a write, and then crashes the
// store leading the most regions: the sleeping followers must elect new
// leaders on their own within a bounded time.
func TestHibernation(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 61, Tweak: hibernateTweak})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	var keys [][]byte
	for i := 1; i < 20; i++ {
		keys = append(keys, []byte(fmt.Sprintf("r%02d", i)))
	}
	mustPut(t, cl, ctx, "r00", "x")
	err := c.onLeader(ctx, FirstRegionID, func(s *raftstore.Store) error {
		_, err := s.SplitRegion(ctx, FirstRegionID, keys)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("r%02d-k", i), "v")
	}
	waitFor(t, 10*time.Second, "every region to hibernate", func() bool { return totalAwake(c) == 0 })

	// A write wakes its region, and it goes back to sleep.
	mustPut(t, cl, ctx, "r05-k", "w")
	if v, _ := mustGet(t, cl, ctx, "r05-k"); v != "w" {
		t.Fatalf("read %q after waking", v)
	}
	waitFor(t, 10*time.Second, "the woken region to hibernate again", func() bool { return totalAwake(c) == 0 })

	// Crash the store leading the most regions; no client asks anything.
	counts := map[uint64]int{}
	for _, id := range c.StoreIDs() {
		counts[id] = c.store(id).LeaderCount()
	}
	victim := uint64(1)
	for id, n := range counts {
		if n > counts[victim] {
			victim = id
		}
	}
	led := counts[victim]
	start := time.Now()
	c.Crash(victim)
	waitFor(t, 10*time.Second, "new leaders for the dead store's regions", func() bool {
		n := 0
		for _, id := range c.StoreIDs() {
			if s := c.store(id); s != nil {
				n += s.LeaderCount()
			}
		}
		return n == 20
	})
	t.Logf("store %d led %d regions; all re-elected after %v", victim, led, time.Since(start).Round(time.Millisecond))
	c.Restart(victim)
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("r%02d-k", i)
		if _, ok := mustGet(t, cl, ctx, k); !ok {
			t.Fatalf("%s lost", k)
		}
	}
}

// TestHibernationReportsTraffic: a region written and then left idle
// reports that traffic when its leader falls asleep, although its next
// periodic heartbeat is a minute away.
func TestHibernationReportsTraffic(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 67, Tweak: func(cfg *raftstore.Config) {
		hibernateTweak(cfg)
		cfg.RegionHeartbeatTicks = 3000 // 60 s: no periodic heartbeat during the test
	}})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	waitFor(t, 10*time.Second, "the region to hibernate", func() bool { return totalAwake(c) == 0 })
	before := c.Sched.TotalTraffic()
	const keys = 20
	for i := range keys {
		mustPut(t, cl, ctx, fmt.Sprintf("t%02d", i), "0123456789")
	}
	if v, ok := mustGet(t, cl, ctx, "t00"); !ok || v != "0123456789" {
		t.Fatalf("get t00 = %q %v", v, ok)
	}
	waitFor(t, 10*time.Second, "the region to hibernate again", func() bool { return totalAwake(c) == 0 })
	waitFor(t, 10*time.Second, "the writes and the read reported", func() bool {
		tr := c.Sched.TotalTraffic()
		return tr.KeysWritten-before.KeysWritten >= keys && tr.BytesWritten-before.BytesWritten >= keys*(3+10) &&
			tr.KeysRead-before.KeysRead >= 1
	})
}
