package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client"
	kvconfig "github.com/regionkv/regionkv/kv/config"
)

// Issue 6's integration tests: real stores and the real scheduler.

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fill writes n keys key%05d of size-byte seeded random values.
func fill(t testing.TB, cl *client.RawClient, seed uint64, n, size int) (keys, values [][]byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range n {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		keys = append(keys, fmt.Appendf(nil, "key%05d", i))
		values = append(values, v)
	}
	for i := 0; i < n; i += 50 {
		j := min(n, i+50)
		if err := cl.BatchPut(ctxFor(t, 30*time.Second), keys[i:j], values[i:j]); err != nil {
			t.Fatalf("batch put %d..%d: %v", i, j, err)
		}
	}
	return keys, values
}

func checkAll(t testing.TB, cl *client.RawClient, keys, values [][]byte) {
	t.Helper()
	got, err := cl.BatchGet(ctxFor(t, 30*time.Second), keys)
	if err != nil {
		t.Fatalf("batch get: %v", err)
	}
	if len(got) != len(keys) {
		t.Fatalf("batch get found %d of %d keys", len(got), len(keys))
	}
	want := map[string][]byte{}
	for i, k := range keys {
		want[string(k)] = values[i]
	}
	for _, p := range got {
		if !bytes.Equal(want[string(p.Key)], p.Value) {
			t.Fatalf("key %q: wrong value", p.Key)
		}
	}
}

// TestSplitBySizeRegionMapMatches: a region written past its max size
// splits by itself (split checker, AskBatchSplit, BatchSplit,
// ReportBatchSplit), and the scheduler's region map then matches every
// store's region states exactly.
func TestSplitBySizeRegionMapMatches(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 1})
	cl := c.NewClient()
	keys, values := fill(t, cl, 1, 400, 1024) // ~400 KiB, 64 KiB max size
	c.WaitFor(60*time.Second, "size splits and a matching region map", func() error {
		regions, err := c.SchedRegions()
		if err != nil {
			return err
		}
		if len(regions) < 5 {
			return fmt.Errorf("%d regions", len(regions))
		}
		for _, r := range regions {
			if !Replicated(r.Meta, 3) {
				return fmt.Errorf("region %d has peers %v, not 3 voters", r.Meta.Id, r.Meta.Peers)
			}
		}
		return c.CheckRegionMap()
	})
	checkAll(t, cl, keys, values)
	regions, _ := c.SchedRegions()
	t.Logf("%d regions after ~400 KiB", len(regions))
}

// TestFourthStoreBalances: a fourth store joins a 3-store cluster of 24
// regions; balance-region moves replicas and balance-leader moves leaders
// onto it until every store is within tolerance of the mean, and the data
// stays readable.
func TestFourthStoreBalances(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 2})
	cl := c.NewClient()
	var splits [][]byte
	for i := 1; i < 24; i++ {
		splits = append(splits, fmt.Appendf(nil, "key%05d", i*10))
	}
	c.Split(splits...)
	keys, values := fill(t, cl, 2, 240, 64)
	c.AddStore()
	const regions = 24
	c.WaitFor(90*time.Second, "replicas and leaders balanced over 4 stores", func() error {
		rs, err := c.SchedRegions()
		if err != nil {
			return err
		}
		if len(rs) != regions {
			return fmt.Errorf("%d regions", len(rs))
		}
		replicas, leaders := Counts(rs)
		// Mean 18 replicas and 6 leaders per store. The schedulers stop
		// moving within their tolerance; allow a few around the mean.
		for _, s := range c.Stores {
			if r := replicas[s.ID]; r < 16 || r > 20 {
				return fmt.Errorf("store %d has %d replicas (replicas %v, leaders %v)", s.ID, r, replicas, leaders)
			}
			if l := leaders[s.ID]; l < 4 || l > 8 {
				return fmt.Errorf("store %d leads %d regions (replicas %v, leaders %v)", s.ID, l, replicas, leaders)
			}
		}
		for _, r := range rs {
			if !Replicated(r.Meta, 3) {
				return fmt.Errorf("region %d has peers %v, not 3 voters", r.Meta.Id, r.Meta.Peers)
			}
		}
		return c.CheckRegionMap()
	})
	checkAll(t, cl, keys, values)
}

// TestDownStoreReplicasRebuilt: with four stores, one crashes and stays
// down past max-store-down-time (3 s here); the replica checker rebuilds
// its replicas on the other stores, no region is left below 3 replicas,
// every new replica exists on its store, and the data stays readable.
func TestDownStoreReplicasRebuilt(t *testing.T) {
	c := New(t, Options{Stores: 4, Seed: 3})
	cl := c.NewClient()
	var splits [][]byte
	for i := 1; i < 8; i++ {
		splits = append(splits, fmt.Appendf(nil, "key%05d", i*10))
	}
	c.Split(splits...)
	keys, values := fill(t, cl, 3, 80, 64)
	// Crash the store holding the most replicas.
	rs, err := c.SchedRegions()
	if err != nil {
		t.Fatal(err)
	}
	replicas, _ := Counts(rs)
	victim := c.Stores[0]
	for _, s := range c.Stores {
		if replicas[s.ID] > replicas[victim.ID] {
			victim = s
		}
	}
	if replicas[victim.ID] == 0 {
		t.Fatalf("no store holds replicas: %s", fmtRegions(rs))
	}
	t.Logf("crashing store %d with %d replicas", victim.ID, replicas[victim.ID])
	c.CrashStore(victim)
	// 20 s: well past max-store-down-time (3 s), short of the operator
	// timeout (30 s), so an operator stuck on the dead store cannot hold
	// up the repair until it times out.
	c.WaitFor(20*time.Second, "replicas of the down store rebuilt elsewhere", func() error {
		rs, err := c.SchedRegions()
		if err != nil {
			return err
		}
		if len(rs) != 8 {
			return fmt.Errorf("%d regions", len(rs))
		}
		for _, r := range rs {
			if !Replicated(r.Meta, 3) {
				return fmt.Errorf("region %d has peers %v, not 3 voters", r.Meta.Id, r.Meta.Peers)
			}
			for _, p := range r.Meta.Peers {
				if p.StoreId == victim.ID {
					return fmt.Errorf("region %d still has peer %d on down store %d", r.Meta.Id, p.Id, victim.ID)
				}
			}
		}
		return c.CheckRegionMap()
	})
	checkAll(t, cl, keys, values)
}

// TestSchedulerLeaderFailover: with three scheduler members, closing the
// leader moves leadership; the stores keep heartbeating to the new leader
// (a split made afterwards shows up in its region map), and an SDK client
// keeps reading and writing.
func TestSchedulerLeaderFailover(t *testing.T) {
	c := New(t, Options{Stores: 3, Schedulers: 3, Seed: 4})
	cl := c.NewClient()
	keys, values := fill(t, cl, 4, 50, 64)
	old := c.SchedLeader()
	c.StopScheduler(old)
	leader := c.SchedLeader()
	if leader == old {
		t.Fatal("the closed member still leads")
	}
	t.Logf("scheduler leader moved from %s to %s", old.Name(), leader.Name())
	// The split needs AskBatchSplit and ReportBatchSplit answered by the
	// new leader, and the new leader learns the result from heartbeats.
	c.Split([]byte("key00025"))
	c.WaitFor(30*time.Second, "the new leader's map matching the stores'", func() error {
		rs, err := c.SchedRegions()
		if err != nil {
			return err
		}
		if len(rs) != 2 {
			return fmt.Errorf("%d regions: %s", len(rs), fmtRegions(rs))
		}
		return c.CheckRegionMap()
	})
	for i, k := range keys {
		values[i] = fmt.Appendf(nil, "after-failover-%d", i)
		if err := cl.Put(ctxFor(t, 20*time.Second), k, values[i]); err != nil {
			t.Fatalf("put after failover: %v", err)
		}
	}
	checkAll(t, cl, keys, values)
	// A client created after the failover finds the new leader too.
	cl2 := c.NewClient()
	checkAll(t, cl2, keys, values)
}

// TestOperatorsWithDefaultHeartbeatInterval: with region heartbeats a
// minute apart (the default), operators still finish within seconds: the
// replica checker's add-peer steps that a just-elected leader refuses
// (ServerIsBusy until it applied its first entry) are sent again by the
// scheduler without waiting for the next heartbeat; splits and a fourth
// store's rebalancing complete too.
func TestOperatorsWithDefaultHeartbeatInterval(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 5, Raftstore: func(r *kvconfig.Raftstore) {
		r.RegionHeartbeatInterval = kvconfig.DefaultRaftstore().RegionHeartbeatInterval
	}}) // New waits (30 s at most) for the first region's 3 replicas
	c.Split(key(100), key(200))
	c.AddStore()
	c.WaitFor(30*time.Second, "replicas on the fourth store", func() error {
		rs, err := c.SchedRegions()
		if err != nil {
			return err
		}
		replicas, _ := Counts(rs)
		if replicas[c.Stores[3].ID] < 2 {
			return fmt.Errorf("replicas %v", replicas)
		}
		return c.CheckRegionMap()
	})
}
