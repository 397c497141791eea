package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

// TestSizeSplitAfterWritesStop: a region written past its max size splits
// even when the writes stop before its next split-check tick. The
// split check runs on ticks; a region that hibernated with the check due
// used to stop ticking and never split.
func TestSizeSplitAfterWritesStop(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 62, Tweak: func(cfg *raftstore.Config) {
		hibernateTweak(cfg)
		cfg.RegionMaxSize, cfg.RegionSplitSize = 16<<10, 8<<10
		cfg.SplitCheckTicks = 200 // 4 s: far past the idle ticks before hibernation
	}})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	val := strings.Repeat("v", 512)
	for i := range 80 { // 40 KiB, past the 16 KiB max size
		mustPut(t, cl, ctx, fmt.Sprintf("k%03d", i), val)
	}
	waitFor(t, 20*time.Second, "the region to split by size", func() bool {
		return c.RegionOf([]byte("k079")).Id != FirstRegionID || len(c.RegionOf([]byte("k000")).EndKey) != 0
	})
}
