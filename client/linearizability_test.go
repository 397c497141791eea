package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/regionkv/regionkv/tests/linearizability"
)

// TestLinearizableWhileSplittingAndMovingLeaders runs concurrent Get, Put
// and CompareAndSwap through the SDK while the fake cluster splits regions
// and moves leaders under it, and checks the history with porcupine.
func TestLinearizableWhileSplittingAndMovingLeaders(t *testing.T) {
	const seed = 7
	const clients, opsPerClient = 4, 150
	t.Logf("seed %d", seed)
	c := newFakeCluster(t, 3, "k1", "k2")
	cl := newTestClient(t, c)
	rec := linearizability.NewRecorder()
	keys := []string{"k0a", "k1a", "k1m", "k2a", "k2z"}

	progress := make(chan struct{}, clients*opsPerClient)
	done := make(chan struct{})
	var ctrl sync.WaitGroup
	ctrl.Go(func() {
		// Every few operations, split somewhere or move a leader.
		rng := rand.New(rand.NewSource(seed))
		n := 0
		for {
			select {
			case <-done:
				return
			case <-progress:
			}
			if n++; n%5 != 0 {
				continue
			}
			k := keys[rng.Intn(len(keys))]
			if rng.Intn(2) == 0 {
				c.split(fmt.Sprintf("%s%c", k[:2], 'a'+rng.Intn(26)))
			} else {
				c.transferLeader(k)
			}
		}
	})

	var wg sync.WaitGroup
	for id := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(seed*100 + int64(id)))
			last := map[string]string{}
			for i := range opsPerClient {
				key := keys[rng.Intn(len(keys))]
				in := linearizability.Input{Key: key}
				var out linearizability.Output
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := rec.Now()
				switch p := rng.Intn(10); {
				case p < 4:
					in.Kind = linearizability.Get
					v, err := cl.Get(ctx, []byte(key))
					out = linearizability.Output{Value: string(v), Found: v != nil, Unknown: err != nil}
					if err == nil {
						last[key] = string(v)
					}
				case p < 7:
					in.Kind, in.Value = linearizability.Put, fmt.Sprintf("c%d-%d", id, i)
					err := cl.Put(ctx, []byte(key), []byte(in.Value))
					out.Unknown = err != nil
				default:
					in.Kind, in.Value = linearizability.CAS, fmt.Sprintf("c%d-%d", id, i)
					var prev []byte
					if v := last[key]; v != "" {
						in.Prev, prev = v, []byte(v)
					} else {
						in.PrevAbsent = true
					}
					_, ok, err := cl.CompareAndSwap(ctx, []byte(key), prev, []byte(in.Value))
					out = linearizability.Output{Swapped: ok, Unknown: err != nil}
					if err != nil && !errors.Is(err, ErrUndetermined) {
						t.Errorf("cas: %v", err)
					}
				}
				cancel()
				rec.Record(id, in, call, out)
				if out.Unknown {
					t.Errorf("client %d op %d (%+v) failed", id, i, in)
				}
				progress <- struct{}{}
			}
		})
	}
	wg.Wait()
	close(done)
	ctrl.Wait()

	h := rec.History()
	if res := linearizability.Check(h, 30*time.Second); res != porcupine.Ok {
		t.Fatalf("history of %d operations is %s (seed %d)", len(h), res, seed)
	}
	if n := len(c.sortedRegions()); n < 5 {
		t.Fatalf("only %d regions: the cluster barely changed", n)
	}
	t.Logf("%d operations linearizable across %d regions", len(h), len(c.sortedRegions()))
}
