package server

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/client"
)

// TestConcurrentBootstrapLosersSeeBootstrapped: stores racing to bootstrap
// (as a playground's stores do) get one winner; every loser, the moment it
// is refused, finds the cluster bootstrapped and can register its store.
// Before Bootstrap was serialized, a loser could be refused while
// IsBootstrapped still said false, and its store failed to start.
func TestConcurrentBootstrapLosersSeeBootstrapped(t *testing.T) {
	for round := range 5 {
		s := startServer(t, testConfig(t, fmt.Sprintf("s%d", round)))
		waitLeader(t, s)
		ctx := ctxT(t)
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		won := make([]bool, n)
		for i := range n {
			c := newClient(t, s.Addr())
			wg.Add(1)
			go func() {
				defer wg.Done()
				sid, rid := uint64(10+i), uint64(100+i)
				err := c.Bootstrap(ctx, &metapb.Store{Id: sid, Address: fmt.Sprintf("127.0.0.1:%d", 1000+i)},
					&metapb.Region{Id: rid, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
						Peers: []*metapb.Peer{{Id: rid + 100, StoreId: sid}}})
				if err == nil {
					won[i] = true
					return
				}
				if !errors.Is(err, client.ErrAlreadyBootstrapped) {
					errs[i] = fmt.Errorf("bootstrap: %w", err)
					return
				}
				if ok, err := c.IsBootstrapped(ctx); err != nil || !ok {
					errs[i] = fmt.Errorf("refused, then IsBootstrapped = %v, %v", ok, err)
					return
				}
				if err := c.PutStore(ctx, &metapb.Store{Id: sid, Address: fmt.Sprintf("127.0.0.1:%d", 1000+i)}); err != nil {
					errs[i] = fmt.Errorf("refused, then PutStore: %w", err)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		winners := 0
		for _, w := range won {
			if w {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d stores bootstrapped the cluster", round, winners)
		}
	}
}
