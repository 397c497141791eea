package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/scheduler/api"
)

// Issue 7's integration tests: the SDK against real stores and the real
// scheduler.

func key(i int) []byte   { return fmt.Appendf(nil, "k%03d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "v%03d", i) }

// presplit splits the key space at k010, k020, ..., giving n regions.
func presplit(c *Cluster, n int) {
	var splits [][]byte
	for i := 1; i < n; i++ {
		splits = append(splits, key(10*i))
	}
	c.Split(splits...)
}

func wantRange(t *testing.T, what string, keys, values [][]byte, from, to int) {
	t.Helper()
	step := 1
	if from > to {
		step = -1
	}
	var want []int
	for i := from; i != to; i += step {
		want = append(want, i)
	}
	if len(keys) != len(want) || len(values) != len(want) {
		t.Fatalf("%s: got %d keys %q, want %d from %s", what, len(keys), keys, len(want), key(from))
	}
	for j, i := range want {
		if !bytes.Equal(keys[j], key(i)) || !bytes.Equal(values[j], value(i)) {
			t.Fatalf("%s: pair %d = %q=%q, want %q=%q", what, j, keys[j], values[j], key(i), value(i))
		}
	}
}

// TestSDKAcrossRegions: 32 regions; point, batch and range operations that
// span them, with scan limits landing exactly on region boundaries.
func TestSDKAcrossRegions(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 11})
	presplit(c, 32)
	cl := c.NewClient()
	ctx := ctxFor(t, 60*time.Second)
	const n = 320
	var keys, values [][]byte
	for i := range n {
		keys, values = append(keys, key(i)), append(values, value(i))
	}
	if err := cl.BatchPut(ctx, keys, values); err != nil { // 32 regions in one call
		t.Fatalf("batch put: %v", err)
	}
	if rs, err := c.SchedRegions(); err != nil || len(rs) != 32 {
		t.Fatalf("scheduler regions: %d, %v", len(rs), err)
	}
	for i := range n {
		v, err := cl.Get(ctx, key(i))
		if err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("get %s = %q, %v", key(i), v, err)
		}
	}
	if v, err := cl.Get(ctx, []byte("k0105")); v != nil || err != nil {
		t.Fatalf("get of a missing key = %q, %v; want nil, nil", v, err)
	}

	// Forward scans whose limits end exactly at a region boundary.
	ks, vs, err := cl.Scan(ctx, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan first region", ks, vs, 0, 10)
	ks, vs, err = cl.Scan(ctx, key(5), nil, 15)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan k005 limit 15", ks, vs, 5, 20)
	ks, vs, err = cl.Scan(ctx, key(10), key(40), 30)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan [k010,k040) limit 30", ks, vs, 10, 40)
	ks, vs, err = cl.Scan(ctx, key(10), key(40), 100)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan [k010,k040) limit 100", ks, vs, 10, 40)
	ks, vs, err = cl.Scan(ctx, nil, nil, n)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan all, limit = count", ks, vs, 0, n)
	ks, vs, err = cl.Scan(ctx, []byte("k0995"), nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "scan from between keys", ks, vs, 100, 150)

	// Reverse scans: [end, start) downwards.
	ks, vs, err = cl.ReverseScan(ctx, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "reverse scan last region", ks, vs, n-1, n-11)
	ks, vs, err = cl.ReverseScan(ctx, key(40), nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "reverse scan below k040 limit 20", ks, vs, 39, 19)
	ks, vs, err = cl.ReverseScan(ctx, key(40), key(10), 30)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "reverse scan [k010,k040) limit 30", ks, vs, 39, 9)
	ks, vs, err = cl.ReverseScan(ctx, nil, nil, n+5)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, "reverse scan all", ks, vs, n-1, -1)

	// Batch get in a shuffled order spanning every region, with a
	// duplicate and a missing key.
	rng := rand.New(rand.NewPCG(11, 0))
	perm := rng.Perm(n)
	var ask [][]byte
	for _, i := range perm {
		ask = append(ask, key(i))
	}
	ask = append(ask, key(perm[0]), []byte("k0005"))
	got, err := cl.BatchGet(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+1 {
		t.Fatalf("batch get: %d pairs, want %d", len(got), n+1)
	}
	for j, p := range got {
		if !bytes.Equal(p.Key, ask[j]) || !bytes.Equal(p.Value, append([]byte("v"), p.Key[1:]...)) {
			t.Fatalf("batch get pair %d = %q=%q, asked %q", j, p.Key, p.Value, ask[j])
		}
	}

	// CompareAndSwap on keys of different regions.
	for _, i := range []int{0, 159, 319} {
		prev, ok, err := cl.CompareAndSwap(ctx, key(i), []byte("wrong"), []byte("x"))
		if err != nil || ok || !bytes.Equal(prev, value(i)) {
			t.Fatalf("cas with a wrong previous value on %s = %q, %v, %v", key(i), prev, ok, err)
		}
		if _, ok, err := cl.CompareAndSwap(ctx, key(i), value(i), value(i)); err != nil || !ok {
			t.Fatalf("cas on %s = %v, %v", key(i), ok, err)
		}
	}

	// Batch delete of every other key, then delete range across regions.
	var del [][]byte
	for i := 0; i < n; i += 2 {
		del = append(del, key(i))
	}
	if err := cl.BatchDelete(ctx, del); err != nil {
		t.Fatal(err)
	}
	ks, _, err = cl.Scan(ctx, nil, nil, n)
	if err != nil || len(ks) != n/2 {
		t.Fatalf("after batch delete: %d keys, %v", len(ks), err)
	}
	if err := cl.DeleteRange(ctx, key(15), key(305)); err != nil {
		t.Fatal(err)
	}
	ks, _, err = cl.Scan(ctx, nil, nil, n)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := 1; i < n; i += 2 {
		if i < 15 || i >= 305 {
			want = append(want, key(i))
		}
	}
	if !slices.EqualFunc(ks, want, bytes.Equal) {
		t.Fatalf("after delete range: %q, want %q", ks, want)
	}
}

// writer owns keys w-000..w-nnn and checks each of its writes by reading it
// back. Every call must succeed within its deadline (the SDK retries region
// errors and transport failures behind the scenes).
type writer struct {
	id   int
	cl   *client.RawClient
	last map[string][]byte
	ops  int
	done *atomic.Int64 // shared: operations completed by all writers
}

func (w *writer) step(ctx context.Context, rng *rand.Rand) error {
	k := fmt.Appendf(nil, "k%03d-w%d", rng.IntN(320), w.id)
	v := fmt.Appendf(nil, "%d-%d", w.id, w.ops)
	w.ops++
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var err error
	switch rng.IntN(4) {
	case 0:
		var prev []byte
		var ok bool
		prev, ok, err = w.cl.CompareAndSwap(cctx, k, w.last[string(k)], v)
		if err == nil && !ok {
			return fmt.Errorf("cas %s: not swapped, previous %q, want %q", k, prev, w.last[string(k)])
		}
	default:
		err = w.cl.Put(cctx, k, v)
	}
	if errors.Is(err, client.ErrUndetermined) {
		// The write may or may not have landed (a store crashed under it).
		// Only this writer writes k, so k holds either v or the value
		// before; anything else is lost or invented data.
		got, gerr := w.cl.Get(cctx, k)
		if gerr != nil {
			return fmt.Errorf("get %s after an undetermined write: %w", k, gerr)
		}
		if !bytes.Equal(got, v) && !bytes.Equal(got, w.last[string(k)]) {
			return fmt.Errorf("get %s = %q after an undetermined write of %q over %q", k, got, v, w.last[string(k)])
		}
		w.last[string(k)] = got
		w.done.Add(1)
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", k, err)
	}
	w.last[string(k)] = v
	got, err := w.cl.Get(cctx, k)
	if err != nil {
		return fmt.Errorf("get %s: %w", k, err)
	}
	if !bytes.Equal(got, v) {
		return fmt.Errorf("get %s = %q right after writing %q", k, got, v)
	}
	w.done.Add(1)
	return nil
}

// runWriters runs n writers until stop is closed and returns their first
// error and op count.
func runWriters(c *Cluster, n int, seed uint64, done *atomic.Int64, stop <-chan struct{}) func() ([]*writer, error) {
	var wg sync.WaitGroup
	ws := make([]*writer, n)
	errs := make([]error, n)
	for i := range n {
		ws[i] = &writer{id: i, cl: c.NewClient(), last: map[string][]byte{}, done: done}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := ws[i].step(context.Background(), rng); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	return func() ([]*writer, error) { wg.Wait(); return ws, errors.Join(errs...) }
}

// TestSDKThroughChurn: writers keep writing and reading back through the
// SDK while regions split, leaders move by operator, a fourth store joins
// (membership changes: the balancers add peers on it, remove others and
// move leaders), and the store leading the most regions crashes and comes
// back. Every request
// succeeds within its deadline; at the end every last write is readable
// through a fresh client.
func TestSDKThroughChurn(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 12})
	presplit(c, 4)
	stop := make(chan struct{})
	var done atomic.Int64
	wait := runWriters(c, 4, 12, &done, stop)
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wait()
		}
	}()
	// progress waits until the writers completed 20 more operations: each
	// change below happens while they run.
	progress := func(what string) {
		t.Helper()
		before := done.Load()
		c.WaitFor(30*time.Second, "writers progressing "+what, func() error {
			if n := done.Load(); n < before+20 {
				return fmt.Errorf("%d operations since", n-before)
			}
			return nil
		})
	}
	rng := rand.New(rand.NewPCG(12, 1))

	// Splits.
	progress("at the start")
	c.Split(key(55), key(105), key(205))
	c.Split(key(255))
	progress("after splits")
	// Leader transfers.
	for range 6 {
		rs, err := c.SchedRegions()
		if err != nil {
			t.Fatal(err)
		}
		r := rs[rng.IntN(len(rs))]
		if r.Leader == nil {
			continue
		}
		var to uint64
		for _, p := range r.Meta.Peers {
			if p.StoreId != r.Leader.StoreId {
				to = p.StoreId
			}
		}
		req := api.OperatorRequest{Name: "transfer-leader", RegionID: r.Meta.Id, ToStore: to}
		if err := c.Operator(req); err != nil {
			// Busy with a balance operator, or the target's peer not
			// caught up yet (a split just made it): asked again below.
			t.Logf("transfer leader: %v", err)
		}
		asked := time.Now()
		c.WaitFor(10*time.Second, "the leader transfer", func() error {
			got, err := c.SchedClient().GetRegionByID(ctxFor(t, 5*time.Second), r.Meta.Id)
			if err != nil {
				return err
			}
			if got.Leader == nil || got.Leader.StoreId == r.Leader.StoreId {
				if time.Since(asked) > 500*time.Millisecond {
					_ = c.Operator(req)
					asked = time.Now()
				}
				return errors.New("not moved")
			}
			return nil
		})
	}
	progress("after leader transfers")
	// Membership: a fourth store joins and receives replicas and leaders.
	s4 := c.AddStore()
	c.WaitFor(60*time.Second, "replicas and leaders on the fourth store", func() error {
		rs, err := c.SchedRegions()
		if err != nil {
			return err
		}
		replicas, leaders := Counts(rs)
		if replicas[s4.ID] < 3 || leaders[s4.ID] < 1 {
			return fmt.Errorf("store %d: %d replicas, %d leaders", s4.ID, replicas[s4.ID], leaders[s4.ID])
		}
		return nil
	})
	// A store crashes (the one leading the most regions) and restarts.
	rs, err := c.SchedRegions()
	if err != nil {
		t.Fatal(err)
	}
	_, leaders := Counts(rs)
	victim := c.Stores[0]
	for _, s := range c.Stores {
		if leaders[s.ID] > leaders[victim.ID] {
			victim = s
		}
	}
	t.Logf("crashing store %d (leads %d regions)", victim.ID, leaders[victim.ID])
	c.CrashStore(victim)
	progress("with a store down")
	c.RestartStore(victim)
	progress("after the restart")
	close(stop)
	stopped = true
	ws, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	fresh := c.NewClient()
	for _, w := range ws {
		total += w.ops
		for k, v := range w.last {
			got, err := fresh.Get(ctxFor(t, 20*time.Second), []byte(k))
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("final get %s = %q, %v; want %q", k, got, err, v)
			}
		}
	}
	t.Logf("%d operations through the churn", total)
	c.WaitFor(30*time.Second, "a region map matching the stores'", c.CheckRegionMap)
}

// TestSDKDeadlineWithoutQuorum: with two of three stores down, a write
// fails once the caller's deadline passes, with an error that says so
// (errors.Is context.DeadlineExceeded); after a restart writes succeed.
func TestSDKDeadlineWithoutQuorum(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 13})
	cl := c.NewClient()
	if err := cl.Put(ctxFor(t, 10*time.Second), []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	c.CrashStore(c.Stores[1])
	c.CrashStore(c.Stores[2])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := cl.Put(ctx, []byte("a"), []byte("2"))
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put without quorum: %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if took > 4*time.Second {
		t.Fatalf("put without quorum returned after %s, deadline 2s", took)
	}
	t.Logf("put without quorum: %v (after %s)", err, took.Round(time.Millisecond))
	c.RestartStore(c.Stores[1])
	if err := cl.Put(ctxFor(t, 30*time.Second), []byte("a"), []byte("3")); err != nil {
		t.Fatalf("put after a store came back: %v", err)
	}
	if v, err := cl.Get(ctxFor(t, 10*time.Second), []byte("a")); err != nil || string(v) != "3" {
		t.Fatalf("get = %q, %v", v, err)
	}
}
