package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
)

// waitSplitEverywhere waits until every running store holds each region
// at least at its given epoch version.
func waitSplitEverywhere(t *testing.T, c *Cluster, regions []*metapb.Region) {
	t.Helper()
	waitFor(t, 15*time.Second, "every store to apply the split", func() bool {
		for _, id := range c.StoreIDs() {
			if !c.Up(id) {
				continue
			}
			for _, r := range regions {
				got := c.StoreRegion(id, r.Id)
				if got == nil || got.RegionEpoch.Version < r.RegionEpoch.Version {
					return false
				}
			}
		}
		return true
	})
}

// TestSplitManual splits at one key, then at several keys at once, and
// checks routing, EpochNotMatch for the old epoch, and the data.
func TestSplitManual(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 31})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	for i := 0; i < 40; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	rs, err := c.Split(ctx, "k20")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || string(rs[0].EndKey) != "k20" || string(rs[1].StartKey) != "k20" || rs[0].Id != FirstRegionID {
		t.Fatalf("unexpected split result %v", rs)
	}
	waitSplitEverywhere(t, c, rs)

	// A request with the old epoch gets EpochNotMatch with both regions.
	l, err := c.LeaderOf(FirstRegionID, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.server(l).RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k01"),
		Context: &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.RegionError.GetEpochNotMatch(); e == nil || len(e.CurrentRegions) < 2 {
		t.Fatalf("old epoch: want EpochNotMatch with the derived regions, got %v", resp.RegionError)
	}

	// Several keys at once on the right region.
	right := rs[1]
	var rs2 []*metapb.Region
	err = c.onLeader(ctx, right.Id, func(s *raftstore.Store) error {
		var err error
		rs2, err = s.SplitRegion(ctx, right.Id, [][]byte{[]byte("k25"), []byte("k30"), []byte("k35")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs2) != 4 {
		t.Fatalf("batch split gave %d regions", len(rs2))
	}
	waitSplitEverywhere(t, c, rs2)
	// Bad keys are refused.
	err = c.onLeader(ctx, right.Id, func(s *raftstore.Store) error {
		_, err := s.SplitRegion(ctx, right.Id, [][]byte{[]byte("k22"), []byte("k21")})
		if err == nil {
			t.Fatal("split at decreasing keys accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("k%02d", i)
		if v, ok := mustGet(t, cl, ctx, k); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("%s = %q %v after split", k, v, ok)
		}
		mustPut(t, cl, ctx, k, "w")
	}
	got, err := cl.Scan(ctx, "", "", 100)
	if err != nil || len(got) != 40 {
		t.Fatalf("scan across regions: %d pairs, %v", len(got), err)
	}
	checkStoresAgree(t, c)
}

// checkStoresAgree waits until every store's data of every region equals
// the region leader's.
func checkStoresAgree(t *testing.T, c *Cluster) {
	t.Helper()
	var why string
	deadline := time.Now().Add(20 * time.Second)
	for {
		why = storesDisagree(c)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stores disagree: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storesDisagree compares, for every region, the data of each replica
// that has applied as far as the leader; "" if all agree.
func storesDisagree(c *Cluster) string {
	regions := map[uint64]*metapb.Region{}
	for _, id := range c.StoreIDs() {
		if s := c.store(id); s != nil {
			for _, r := range s.Regions() {
				if o := regions[r.Id]; o == nil || newerEpoch(r.RegionEpoch, o.RegionEpoch) {
					regions[r.Id] = r
				}
			}
		}
	}
	for _, r := range regions {
		l, err := c.LeaderOf(r.Id, 5*time.Second)
		if err != nil {
			return err.Error()
		}
		lst, _ := c.store(l).PeerStatus(context.Background(), r.Id)
		want, err := c.RegionData(l, lst.Region)
		if err != nil {
			return err.Error()
		}
		for _, p := range lst.Region.Peers {
			s := c.store(p.StoreId)
			if s == nil {
				continue
			}
			st, err := s.PeerStatus(context.Background(), r.Id)
			if err != nil {
				return fmt.Sprintf("region %d missing on store %d", r.Id, p.StoreId)
			}
			if st.Applied < lst.Applied {
				return fmt.Sprintf("region %d on store %d applied %d < leader %d", r.Id, p.StoreId, st.Applied, lst.Applied)
			}
			if st.Applied > lst.Applied {
				continue // the leader moved on meanwhile; checked next time
			}
			got, err := c.RegionData(p.StoreId, st.Region)
			if err != nil {
				return err.Error()
			}
			if len(got) != len(want) {
				return fmt.Sprintf("region %d: store %d has %d keys, leader store %d has %d", r.Id, p.StoreId, len(got), l, len(want))
			}
			for k, v := range want {
				if got[k] != v {
					return fmt.Sprintf("region %d: key %q differs on store %d", r.Id, k, p.StoreId)
				}
			}
		}
	}
	return ""
}

// TestSplitUnderLoadLinearizable lets regions split by size while
// clients run get/put/CAS, with manual splits between the clients' keys,
// and checks the history with porcupine.
func TestSplitUnderLoadLinearizable(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 32, Tweak: func(cfg *raftstore.Config) {
		cfg.RegionMaxSize, cfg.RegionSplitSize = 8<<10, 4<<10
		cfg.SplitCheckTicks = 5
	}})
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		fill := c.NewClient(77)
		val := strings.Repeat("f", 200)
		for i := 0; ctx.Err() == nil; i++ {
			fill.Put(ctx, fmt.Sprintf("fill-%05d", i), val)
		}
	}()
	runChecked(t, c, 4, 8*time.Second, func(ctx context.Context) {
		for _, k := range []string{"key1", "key3", "key2"} {
			if !pause(ctx, 1500*time.Millisecond) {
				return
			}
			if _, err := c.Split(ctx, k); err != nil && ctx.Err() == nil {
				t.Errorf("split at %s: %v", k, err)
			}
		}
	})
	wg.Wait()
	n := 0
	for _, id := range c.StoreIDs() {
		n = max(n, len(c.store(id).Regions()))
	}
	t.Logf("%d regions after the run", n)
	if n < 6 {
		t.Fatalf("only %d regions: size-based splits did not happen", n)
	}
	checkStoresAgree(t, c)
}
