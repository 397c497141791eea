package cluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

// TestLoadSplitSkewedLoad: a region takes gets and puts over 1000 keys,
// 90% of them on 1% of the keys, k0500-k0509. The leader notices the request rate
// over its threshold, samples the requests, and splits the region at a key
// inside the hot range (not the middle of the key space, which the size
// split would pick).
func TestLoadSplitSkewedLoad(t *testing.T) {
	const seed = 23
	c := New(t, Options{Stores: 3, Seed: seed, Tweak: func(cfg *raftstore.Config) {
		cfg.LoadSplit = raftstore.LoadSplitConfig{QPSThreshold: 100, DetectTimes: 3, Window: 300 * time.Millisecond, SampleNum: 128}
	}})
	ctx := testCtx(t, 90*time.Second)
	cl := c.NewClient(1)
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	rng := rand.New(rand.NewPCG(seed, 1))
	split := func() []byte {
		for _, id := range c.StoreIDs() {
			if r := c.StoreRegion(id, FirstRegionID); r != nil && len(r.EndKey) > 0 {
				return r.EndKey
			}
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	ops := 0
	for split() == nil {
		if time.Now().After(deadline) || ops >= 500000 {
			t.Fatalf("seed %d: no load split after %d requests", seed, ops)
		}
		i := rng.IntN(1000)
		if rng.Float64() < 0.9 {
			i = 500 + rng.IntN(10)
		}
		if ops%2 == 0 {
			if _, _, err := cl.Get(ctx, key(i)); err != nil {
				t.Fatalf("get: %v", err)
			}
		} else if out := cl.Put(ctx, key(i), "w"); out != OK {
			t.Fatalf("put %s: outcome %d", key(i), out)
		}
		ops++
	}
	k := split()
	if bytes.Compare(k, []byte(key(500))) <= 0 || bytes.Compare(k, []byte(key(510))) >= 0 {
		t.Fatalf("seed %d: split at %q after %d requests, want inside (k0500, k0510)", seed, k, ops)
	}
	t.Logf("split at %q after %d requests", k, ops)
}
