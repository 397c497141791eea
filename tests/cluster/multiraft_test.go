package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
)

// TestMultiRaftChaos is the combined scenario: size-based and manual
// splits, random membership changes, an unreliable network, crashes and
// restarts, and log GC small enough to force snapshots, under concurrent
// clients. The history must be linearizable, no acknowledged write lost,
// and every replica of every region identical at the end.
func TestMultiRaftChaos(t *testing.T) {
	seed := uint64(71)
	if s := os.Getenv("CHAOS_SEED"); s != "" { // replay or explore: CHAOS_SEED=n
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	c := New(t, Options{Stores: 4, Seed: seed, Logger: dbgLogger(t), Tweak: func(cfg *raftstore.Config) {
		cfg.RegionMaxSize, cfg.RegionSplitSize = 16<<10, 8<<10
		cfg.SplitCheckTicks = 5
		cfg.RaftLogGCCountLimit = 50
		cfg.MaxLeaderMissingTicks = 100
		hibernateTweak(cfg)
	}})
	rnd := rand.New(rand.NewPCG(seed, 1))
	c.Net.SetUnreliable(0.03, 0.03, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Second)
	defer cancel()
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fill := c.NewClient(uint64(100 + w))
			val := strings.Repeat("f", 150)
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("f%d-%05d", w, i)
				if fill.Put(ctx, k, val+k) == OK {
					mu.Lock()
					acked[k] = val + k
					mu.Unlock()
				}
			}
		}(w)
	}
	var actions []string
	fault := func(ctx context.Context) {
		down := uint64(0)
		for pause(ctx, time.Duration(300+rnd.IntN(400))*time.Millisecond) {
			if down != 0 {
				c.Restart(down)
				actions = append(actions, fmt.Sprintf("restart %d", down))
				down = 0
				continue
			}
			switch rnd.IntN(3) {
			case 0:
				k := fmt.Sprintf("key%d", rnd.IntN(5))
				if rnd.IntN(2) == 0 {
					k = fmt.Sprintf("f%d-%05d", rnd.IntN(2), rnd.IntN(3000))
				}
				sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := c.Split(sctx, k)
				scancel()
				actions = append(actions, fmt.Sprintf("split %s: %v", k, err))
			case 1:
				actions = append(actions, randomConfChange(ctx, c, rnd))
			case 2:
				down = uint64(1 + rnd.IntN(4))
				c.Crash(down)
				actions = append(actions, fmt.Sprintf("crash %d", down))
			}
		}
		if down != 0 {
			c.Restart(down)
		}
	}
	h := runCheckedNoVerdict(t, c, 4, ctx, fault)
	wg.Wait()
	for _, a := range actions {
		t.Log(a)
	}
	c.Net.Recover()
	for _, id := range c.StoreIDs() {
		c.Restart(id)
	}
	switch h.Check(60 * time.Second) {
	case porcupine.Illegal:
		t.Fatalf("seed %d: history is not linearizable", seed)
	case porcupine.Unknown:
		t.Logf("seed %d: linearizability check timed out", seed)
	}
	rctx := testCtx(t, 30*time.Second)
	cl := c.NewClient(999)
	for k, v := range acked {
		got, ok, err := cl.Get(rctx, k)
		if err != nil {
			t.Fatalf("seed %d: get %s: %v\n%s", seed, k, err, c.DumpRegion([]byte(k)))
		}
		if !ok || got != v {
			t.Fatalf("seed %d: acknowledged write %s lost (got %q %v)", seed, k, got, ok)
		}
	}
	n := 0
	for _, id := range c.StoreIDs() {
		n = max(n, len(c.store(id).Regions()))
	}
	t.Logf("%d acknowledged writes present; %d ops, %d unknown; up to %d regions per store", len(acked), h.Completed, h.Unknown, n)
	checkStoresAgree(t, c)
}

// runCheckedNoVerdict runs clients while fault runs, until ctx is done.
func runCheckedNoVerdict(t *testing.T, c *Cluster, clients int, ctx context.Context, fault func(ctx context.Context)) *History {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fault(ctx) }()
	h := c.RunClients(ctx, clients, 5, c.opts.Seed)
	<-done
	if h.Completed < 20 {
		t.Fatalf("seed %d: only %d operations completed", c.opts.Seed, h.Completed)
	}
	return h
}

// randomConfChange removes a follower of a random region (when it has 4
// peers) or adds one on a store without a peer (when it has 3).
func randomConfChange(ctx context.Context, c *Cluster, rnd *rand.Rand) string {
	key := fmt.Sprintf("f%d-%05d", rnd.IntN(2), rnd.IntN(3000))
	if rnd.IntN(3) == 0 {
		key = fmt.Sprintf("key%d", rnd.IntN(5))
	}
	r := c.RegionOf([]byte(key))
	l, err := c.LeaderOf(r.Id, time.Second)
	if err != nil {
		return fmt.Sprintf("conf change region %d: %v", r.Id, err)
	}
	r = c.StoreRegion(l, r.Id)
	if r == nil {
		return "conf change: leader lost the region"
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if len(r.Peers) > 3 {
		var cands []*metapb.Peer
		for _, p := range r.Peers {
			if p.StoreId != l {
				cands = append(cands, p)
			}
		}
		p := cands[rnd.IntN(len(cands))]
		_, err := c.ChangePeer(cctx, r.Id, eraftpb.ConfChangeType_RemoveNode, p)
		return fmt.Sprintf("remove peer %d (store %d) of region %d: %v", p.Id, p.StoreId, r.Id, err)
	}
	for _, id := range c.StoreIDs() {
		if storePeerOf(r, id) == nil {
			p := &metapb.Peer{Id: c.AllocID(), StoreId: id}
			_, err := c.ChangePeer(cctx, r.Id, eraftpb.ConfChangeType_AddNode, p)
			return fmt.Sprintf("add peer %d (store %d) to region %d: %v", p.Id, id, r.Id, err)
		}
	}
	return "conf change: nothing to do"
}
