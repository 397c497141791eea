package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Histories of get / put / compare-and-swap on a small key set, checked with
// porcupine. A write whose outcome is Unknown is recorded as returning at
// the end of time with an output the model accepts either way.

type opKind int

const (
	opGet opKind = iota
	opPut
	opCAS
)

type kvInput struct {
	kind   opKind
	key    string
	value  string
	expect string // for CAS; "" means absent
}

type kvOutput struct {
	value   string // for get; "" means absent
	ok      bool   // CAS succeeded
	unknown bool
}

// KVModel is a register per key.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.kind {
		case opGet:
			return out.value == st, st
		case opPut:
			return true, in.value
		default:
			if st == in.expect {
				return out.unknown || out.ok, in.value
			}
			return out.unknown || !out.ok, st
		}
	},
	Equal: func(a, b interface{}) bool { return a == b },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch in.kind {
		case opGet:
			return fmt.Sprintf("get(%s) -> %q", in.key, out.value)
		case opPut:
			return fmt.Sprintf("put(%s, %s) unknown=%v", in.key, in.value, out.unknown)
		}
		return fmt.Sprintf("cas(%s, %q -> %s) -> %v unknown=%v", in.key, in.expect, in.value, out.ok, out.unknown)
	},
}

// History records operations of concurrent clients.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
	// Acked maps key to the values of acknowledged puts, for loss checks.
	Unknown, Completed int
}

func (h *History) add(client int, in kvInput, call time.Time, out kvOutput, ret time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := ret.Sub(h.start).Nanoseconds()
	if out.unknown {
		r = 1 << 62
		h.Unknown++
	} else {
		h.Completed++
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call.Sub(h.start).Nanoseconds(), Output: out, Return: r})
}

// Check runs porcupine on the history.
func (h *History) Check(timeout time.Duration) porcupine.CheckResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	return porcupine.CheckOperationsTimeout(KVModel, h.ops, timeout)
}

// RunClients runs n clients doing random get/put/CAS on keys until ctx is
// done, and returns their history.
func (c *Cluster) RunClients(ctx context.Context, n, keys int, seed uint64) *History {
	h := &History{start: time.Now()}
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
				call := time.Now()
				switch r := rnd.IntN(10); {
				case r < 4:
					v, found, err := cl.Get(opCtx, key)
					if err == nil {
						if !found {
							v = ""
						}
						h.add(i, kvInput{kind: opGet, key: key}, call, kvOutput{value: v}, time.Now())
					}
				case r < 7:
					val := fmt.Sprintf("c%d-%d", i, seq)
					out := cl.Put(opCtx, key, val)
					if out != Failed {
						h.add(i, kvInput{kind: opPut, key: key, value: val}, call, kvOutput{unknown: out == Unknown}, time.Now())
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
					call = time.Now()
					val := fmt.Sprintf("c%d-%d", i, seq)
					ok, out := cl.CAS(opCtx, key, cur, cur == "", val)
					if out != Failed {
						h.add(i, kvInput{kind: opCAS, key: key, value: val, expect: cur}, call,
							kvOutput{ok: ok, unknown: out == Unknown}, time.Now())
					}
				}
				cancel()
			}
		}(i)
	}
	wg.Wait()
	return h
}
