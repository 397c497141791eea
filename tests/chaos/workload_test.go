package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/tests/linearizability"
)

// opTimeout bounds one client call; a call that runs out has an unknown
// outcome.
const opTimeout = 3 * time.Second

// stats counts what the workloads did.
type stats struct {
	ops, ok, unknown atomic.Int64
}

func (s *stats) String() string {
	return fmt.Sprintf("ops=%d ok=%d unknown=%d", s.ops.Load(), s.ok.Load(), s.unknown.Load())
}

func (s *stats) done(err error) {
	s.ops.Add(1)
	if err != nil {
		s.unknown.Add(1)
	} else {
		s.ok.Add(1)
	}
}

// registerWorkload runs get / put / compare-and-swap on a few keys from
// several clients and records every operation for porcupine.
type registerWorkload struct {
	rec  *linearizability.Recorder
	keys int
	st   stats
}

func (w *registerWorkload) run(ctx context.Context, cli *client.RawClient, id int, rng *rand.Rand) {
	lastSeen := map[string]string{} // the value this client last read or wrote, per key
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("reg-%d", rng.Intn(w.keys))
		val := fmt.Sprintf("c%d-%d", id, seq)
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		call := w.rec.Now()
		var err error
		switch r := rng.Intn(10); {
		case r < 4:
			var v []byte
			v, err = cli.Get(octx, []byte(key))
			if err == nil {
				lastSeen[key] = string(v)
			}
			w.rec.Record(id, linearizability.Input{Kind: linearizability.Get, Key: key},
				call, linearizability.Output{Value: string(v), Found: v != nil, Unknown: err != nil})
		case r < 6:
			err = cli.Put(octx, []byte(key), []byte(val))
			if err == nil {
				lastSeen[key] = val
			}
			w.rec.Record(id, linearizability.Input{Kind: linearizability.Put, Key: key, Value: val},
				call, linearizability.Output{Unknown: err != nil})
		default:
			// Expect the value this client last saw, so that many swaps
			// succeed; other clients make many of them fail.
			prev := lastSeen[key]
			absent := prev == ""
			var pv []byte
			if !absent {
				pv = []byte(prev)
			}
			var swapped bool
			var previous []byte
			previous, swapped, err = cli.CompareAndSwap(octx, []byte(key), pv, []byte(val))
			switch {
			case err == nil && swapped:
				lastSeen[key] = val
			case err == nil:
				lastSeen[key] = string(previous)
			}
			w.rec.Record(id, linearizability.Input{Kind: linearizability.CAS, Key: key, Value: val, Prev: prev, PrevAbsent: absent},
				call, linearizability.Output{Swapped: swapped, Unknown: err != nil})
		}
		cancel()
		w.st.done(err)
	}
}

// setWorkload inserts unique keys. Every acknowledged insert must be
// present at the end; a failed one may or may not be; nothing else may.
type setWorkload struct {
	mu        sync.Mutex
	attempted map[string]bool
	acked     map[string]bool
	st        stats
}

func (w *setWorkload) run(ctx context.Context, cli *client.RawClient, id int, _ *rand.Rand) {
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("set-%d-%06d", id, seq)
		w.mu.Lock()
		w.attempted[key] = true
		w.mu.Unlock()
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err := cli.Put(octx, []byte(key), []byte(key))
		cancel()
		w.st.done(err)
		if err == nil {
			w.mu.Lock()
			w.acked[key] = true
			w.mu.Unlock()
		}
	}
}

// scanPage is the limit of one scan of the final read, below the store's
// largest.
const scanPage = 5000

// check reads the set back and returns the acknowledged inserts that are
// missing and the keys that were never written.
func (w *setWorkload) check(ctx context.Context, cli *client.RawClient) (lost, phantom []string, present int, err error) {
	var keys, vals [][]byte
	for start := []byte("set-"); ; {
		ks, vs, err := cli.Scan(ctx, start, []byte("set."), scanPage)
		if err != nil {
			return nil, nil, 0, err
		}
		keys, vals = append(keys, ks...), append(vals, vs...)
		if len(ks) < scanPage {
			break
		}
		start = append(append([]byte(nil), ks[len(ks)-1]...), 0)
	}
	got := map[string]bool{}
	for i, k := range keys {
		if !w.attempted[string(k)] || string(vals[i]) != string(k) {
			phantom = append(phantom, string(k))
		}
		got[string(k)] = true
	}
	for k := range w.acked {
		if !got[k] {
			lost = append(lost, k)
		}
	}
	return lost, phantom, len(keys), nil
}

// appendWorkload: each client appends 1, 2, 3, ... to its own key with
// compare-and-swap on the value it last read. A swap with an unknown
// outcome is never retried with the same element: the client reads the
// key again and goes on with the next one.
type appendWorkload struct {
	mu        sync.Mutex
	attempted map[int]map[int]bool
	acked     map[int]map[int]bool
	st        stats
}

func (w *appendWorkload) run(ctx context.Context, cli *client.RawClient, id int, _ *rand.Rand) {
	key := []byte(fmt.Sprintf("app-%d", id))
	w.mu.Lock()
	w.attempted[id], w.acked[id] = map[int]bool{}, map[int]bool{}
	w.mu.Unlock()
	var cur []byte
	known := false
	for next := 1; ctx.Err() == nil; {
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		if !known {
			v, err := cli.Get(octx, key)
			cancel()
			if err != nil {
				sleepCtx(ctx, 50*time.Millisecond) // the cluster is down; do not spin
				continue
			}
			cur, known = v, true
			continue
		}
		nv := strconv.Itoa(next)
		if cur != nil {
			nv = string(cur) + "," + nv
		}
		w.mu.Lock()
		w.attempted[id][next] = true
		w.mu.Unlock()
		_, swapped, err := cli.CompareAndSwap(octx, key, cur, []byte(nv))
		cancel()
		w.st.done(err)
		switch {
		case err != nil:
			known = false
		case swapped:
			w.mu.Lock()
			w.acked[id][next] = true
			w.mu.Unlock()
			cur = []byte(nv)
		default:
			// Nobody else writes this key: a failed swap means our last
			// read is stale, which only an earlier unknown swap explains.
			known = false
		}
		next++
	}
}

// check reads every client's key: elements strictly increasing (in order,
// no duplicate), every acknowledged one present, none never attempted.
func (w *appendWorkload) check(ctx context.Context, cli *client.RawClient) (problems []string, lost int, err error) {
	for id, acked := range w.acked {
		v, err := cli.Get(ctx, []byte(fmt.Sprintf("app-%d", id)))
		if err != nil {
			return nil, 0, err
		}
		seen := map[int]bool{}
		last := 0
		if v != nil {
			for _, f := range strings.Split(string(v), ",") {
				n, err := strconv.Atoi(f)
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("client %d: bad element %q", id, f))
				case n <= last:
					problems = append(problems, fmt.Sprintf("client %d: %d after %d (out of order or duplicated)", id, n, last))
				case !w.attempted[id][n]:
					problems = append(problems, fmt.Sprintf("client %d: %d was never appended", id, n))
				}
				seen[n], last = true, n
			}
		}
		for n := range acked {
			if !seen[n] {
				lost++
				problems = append(problems, fmt.Sprintf("client %d: acknowledged element %d lost", id, n))
			}
		}
	}
	return problems, lost, nil
}
