package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	lin "github.com/regionkv/regionkv/tests/linearizability"
)

// History is a history of get / put / compare-and-swap on a small key set,
// checked against the register-per-key model of tests/linearizability. A
// write whose outcome is Unknown may take effect at any later time.
type History struct {
	rec *lin.Recorder
	mu  sync.Mutex
	// Unknown and Completed count writes of unknown outcome and operations
	// that completed.
	Unknown, Completed int
}

func (h *History) add(client int, in lin.Input, call int64, out lin.Output) {
	h.mu.Lock()
	if out.Unknown {
		h.Unknown++
	} else {
		h.Completed++
	}
	h.mu.Unlock()
	h.rec.Record(client, in, call, out)
}

// Check runs porcupine on the history.
func (h *History) Check(timeout time.Duration) porcupine.CheckResult {
	return lin.Check(h.rec.History(), timeout)
}

// RunClients runs n clients doing random get/put/CAS on keys until ctx is
// done, and returns their history.
func (c *Cluster) RunClients(ctx context.Context, n, keys int, seed uint64) *History {
	h := &History{rec: lin.NewRecorder()}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.NewClient(seed*1000 + uint64(i))
			rnd := rand.New(rand.NewPCG(seed, uint64(i)))
			for seq := 0; ctx.Err() == nil; seq++ {
				key := fmt.Sprintf("key%d", rnd.IntN(keys))
				opCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
				call := h.rec.Now()
				switch r := rnd.IntN(10); {
				case r < 4:
					v, found, err := cl.Get(opCtx, key)
					if err == nil {
						h.add(i, lin.Input{Kind: lin.Get, Key: key}, call, lin.Output{Value: v, Found: found})
					}
				case r < 7:
					val := fmt.Sprintf("c%d-%d", i, seq)
					out := cl.Put(opCtx, key, val)
					if out != Failed {
						h.add(i, lin.Input{Kind: lin.Put, Key: key, Value: val}, call, lin.Output{Unknown: out == Unknown})
					}
				default:
					// Expect the value a get just saw, so that CAS often
					// succeeds.
					cur, found, err := cl.Get(opCtx, key)
					if err != nil {
						cancel()
						continue
					}
					if !found {
						cur = ""
					}
					call = h.rec.Now()
					val := fmt.Sprintf("c%d-%d", i, seq)
					ok, out := cl.CAS(opCtx, key, cur, !found, val)
					if out != Failed {
						h.add(i, lin.Input{Kind: lin.CAS, Key: key, Value: val, Prev: cur, PrevAbsent: !found}, call,
							lin.Output{Swapped: ok, Unknown: out == Unknown})
					}
				}
				cancel()
			}
		}(i)
	}
	wg.Wait()
	return h
}
