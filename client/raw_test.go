package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/tests/linearizability"
)

func bs(s string) []byte { return []byte(s) }

func keyN(i int) string { return fmt.Sprintf("k%04d", i) }

// splitEvery returns split keys k0010, k0020, ... below n.
func splitEvery(step, n int) []string {
	var out []string
	for i := step; i < n; i += step {
		out = append(out, keyN(i))
	}
	return out
}

func noStale(t *testing.T, what string, vals ...[]byte) {
	t.Helper()
	for _, v := range vals {
		if bytes.Equal(v, poison) {
			t.Fatalf("%s returned data from a response with a region error", what)
		}
	}
}

func TestRoutingAcrossManyRegions(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(10, 500)...) // 50 regions
	cl := newTestClient(t, c)
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		if err := cl.Put(ctx, bs(keyN(i)), bs(fmt.Sprint(i))); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	for i := 0; i < 500; i++ {
		v, err := cl.Get(ctx, bs(keyN(i)))
		if err != nil || string(v) != fmt.Sprint(i) {
			t.Fatalf("get %d: %q %v", i, v, err)
		}
	}
	if v, err := cl.Get(ctx, bs("missing")); v != nil || err != nil {
		t.Fatalf("get of a missing key: %q %v", v, err)
	}
	// 50 regions and 3 stores to learn, each once.
	if n := c.schedCalls.Load(); n > 53 {
		t.Fatalf("%d scheduler calls for 50 regions: the cache is not used", n)
	}
	if err := cl.Delete(ctx, bs(keyN(7))); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.Get(ctx, bs(keyN(7))); v != nil || err != nil {
		t.Fatalf("get after delete: %q %v", v, err)
	}
}

// model is the expected content: sorted keys.
func fill(t *testing.T, cl *RawClient, n int, skip func(i int) bool) []string {
	t.Helper()
	var keys, vals [][]byte
	var model []string
	for i := 0; i < n; i++ {
		if skip != nil && skip(i) {
			continue
		}
		keys, vals = append(keys, bs(keyN(i))), append(vals, bs("v"+keyN(i)))
		model = append(model, keyN(i))
	}
	if err := cl.BatchPut(context.Background(), keys, vals); err != nil {
		t.Fatal(err)
	}
	return model
}

func expectScan(model []string, lower, upper string, limit int, reverse bool) []string {
	var out []string
	for _, k := range model {
		if k >= lower && (upper == "" || k < upper) {
			out = append(out, k)
		}
	}
	if reverse {
		sort.Sort(sort.Reverse(sort.StringSlice(out)))
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func TestScanAcrossRegionBoundaries(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(10, 100)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	// Keys k0000..k0099 but not k0050..k0059: region 6 is empty.
	model := fill(t, cl, 100, func(i int) bool { return i >= 50 && i < 60 })

	bounds := []string{"", keyN(0), keyN(5), keyN(9), keyN(10), keyN(11), keyN(30), keyN(50), keyN(55), keyN(60), keyN(99), "z"}
	limits := []int{0, 1, 9, 10, 11, 20, 30, 100, 1000}
	for _, lower := range bounds {
		for _, upper := range bounds {
			if upper != "" && lower >= upper {
				continue
			}
			for _, limit := range limits {
				keys, vals, err := cl.Scan(ctx, bs(lower), bs(upper), limit)
				if err != nil {
					t.Fatalf("Scan(%q, %q, %d): %v", lower, upper, limit, err)
				}
				want := expectScan(model, lower, upper, limit, false)
				if got := strs(keys); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("Scan(%q, %q, %d) = %v, want %v", lower, upper, limit, got, want)
				}
				for i := range keys {
					if string(vals[i]) != "v"+string(keys[i]) {
						t.Fatalf("Scan value of %q is %q", keys[i], vals[i])
					}
				}
				// ReverseScan(start=upper exclusive, end=lower inclusive).
				keys, _, err = cl.ReverseScan(ctx, bs(upper), bs(lower), limit)
				if err != nil {
					t.Fatalf("ReverseScan(%q, %q, %d): %v", upper, lower, limit, err)
				}
				want = expectScan(model, lower, upper, limit, true)
				if got := strs(keys); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("ReverseScan(%q, %q, %d) = %v, want %v", upper, lower, limit, got, want)
				}
			}
		}
	}
}

func TestScanLimitOnBoundaryStopsThere(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(10, 100)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	fill(t, cl, 100, nil)
	before := c.count("RawScan")
	keys, _, err := cl.Scan(ctx, bs(keyN(0)), nil, 20) // exactly regions 1 and 2
	if err != nil || len(keys) != 20 || string(keys[19]) != keyN(19) {
		t.Fatalf("scan: %v %v", strs(keys), err)
	}
	if n := c.count("RawScan") - before; n != 2 {
		t.Fatalf("a limit that ends on a region boundary sent %d RawScans, want 2", n)
	}
	before = c.count("RawScan")
	keys, _, err = cl.ReverseScan(ctx, bs(keyN(30)), nil, 10) // exactly region [k0020, k0030)
	if err != nil || len(keys) != 10 || string(keys[0]) != keyN(29) || string(keys[9]) != keyN(20) {
		t.Fatalf("reverse scan: %v %v", strs(keys), err)
	}
	if n := c.count("RawScan") - before; n != 1 {
		t.Fatalf("reverse limit on a boundary sent %d RawScans, want 1", n)
	}
}

func strs(b [][]byte) []string {
	out := make([]string, len(b))
	for i := range b {
		out[i] = string(b[i])
	}
	return out
}

func TestBatchOperationsSpanRegions(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(10, 100)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	var keys, vals [][]byte
	for _, i := range rng.Perm(100) {
		keys, vals = append(keys, bs(keyN(i))), append(vals, bs(fmt.Sprint("v", i)))
	}
	// The same key twice: the later pair wins.
	keys, vals = append(keys, bs(keyN(3))), append(vals, bs("last"))
	if err := cl.BatchPut(ctx, keys, vals); err != nil {
		t.Fatal(err)
	}
	if n := c.count("RawBatchPut"); n != 10 {
		t.Fatalf("BatchPut over 10 regions sent %d RPCs", n)
	}
	ask := [][]byte{bs(keyN(99)), bs("nope"), bs(keyN(3)), bs(keyN(0)), bs(keyN(42)), bs(keyN(0))}
	pairs, err := cl.BatchGet(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, p := range pairs {
		got += string(p.Key) + "=" + string(p.Value) + " "
	}
	if want := "k0099=v99 k0003=last k0000=v0 k0042=v42 k0000=v0 "; got != want {
		t.Fatalf("BatchGet = %s, want %s", got, want)
	}
	if err := cl.BatchDelete(ctx, [][]byte{bs(keyN(0)), bs(keyN(55)), bs(keyN(99))}); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteRange(ctx, bs(keyN(15)), bs(keyN(45))); err != nil {
		t.Fatal(err)
	}
	all, _, err := cl.Scan(ctx, nil, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 100-3-30 {
		t.Fatalf("%d keys left, want 67", len(all))
	}
	for _, k := range all {
		s := string(k)
		if s == keyN(0) || s == keyN(55) || s == keyN(99) || (s >= keyN(15) && s < keyN(45)) {
			t.Fatalf("deleted key %s still there", s)
		}
	}
	// Empty batches do nothing.
	if p, err := cl.BatchGet(ctx, nil); err != nil || len(p) != 0 {
		t.Fatal(p, err)
	}
}

func TestSplitsAndLeaderMoves(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(25, 100)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	model := fill(t, cl, 100, nil)
	// Warm the cache, then change everything under it.
	if _, _, err := cl.Scan(ctx, nil, nil, 1000); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 100; i += 10 {
		c.split(keyN(i))
		c.transferLeader(keyN(i))
		c.transferLeader(keyN(i - 1))
	}
	for i := 0; i < 100; i++ {
		v, err := cl.Get(ctx, bs(keyN(i)))
		if err != nil || string(v) != "v"+keyN(i) {
			t.Fatalf("get %d after splits: %q %v", i, v, err)
		}
		noStale(t, "Get", v)
	}
	for i := 3; i < 100; i += 10 {
		c.split(keyN(i))
		c.transferLeader(keyN(i))
	}
	keys, vals, err := cl.Scan(ctx, nil, nil, 1000)
	if err != nil || fmt.Sprint(strs(keys)) != fmt.Sprint(model) {
		t.Fatalf("scan after splits: %d keys, %v", len(keys), err)
	}
	noStale(t, "Scan", append(keys, vals...)...)
	for i := 7; i < 100; i += 10 {
		c.split(keyN(i))
	}
	keys, _, err = cl.ReverseScan(ctx, nil, nil, 1000)
	if err != nil || len(keys) != 100 || string(keys[0]) != keyN(99) {
		t.Fatalf("reverse scan after splits: %d keys, %v", len(keys), err)
	}
	noStale(t, "ReverseScan", keys...)
	for i := 1; i < 100; i += 10 {
		c.split(keyN(i))
		c.transferLeader(keyN(i))
	}
	var ask [][]byte
	for i := 0; i < 100; i++ {
		ask = append(ask, bs(keyN(i)))
	}
	pairs, err := cl.BatchGet(ctx, ask)
	if err != nil || len(pairs) != 100 {
		t.Fatalf("batch get after splits: %d pairs, %v", len(pairs), err)
	}
	for _, p := range pairs {
		noStale(t, "BatchGet", p.Value)
	}
	prev, ok, err := cl.CompareAndSwap(ctx, bs(keyN(50)), bs("v"+keyN(50)), bs("new"))
	if err != nil || !ok || string(prev) != "v"+keyN(50) {
		t.Fatalf("cas after splits: %q %v %v", prev, ok, err)
	}
	// 4 regions, 40 splits, two of them (k0025, k0075) at existing bounds.
	if got := len(c.sortedRegions()); got != 4+38 {
		t.Fatalf("%d regions, want 42", got)
	}
}

// TestSplitDuringBatch splits every region a batch touches while its first
// RPCs are on their way: the parts come back with EpochNotMatch and are
// re-split by the new regions.
func TestSplitDuringBatch(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(20, 100)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	if _, _, err := cl.Scan(ctx, nil, nil, 10); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	c.setHook(func(uint64, string) {
		once.Do(func() {
			for i := 10; i < 100; i += 20 {
				c.split(keyN(i))
				c.transferLeader(keyN(i))
			}
		})
	})
	model := fill(t, cl, 100, nil)
	c.setHook(func(uint64, string) {})
	keys, _, err := cl.Scan(ctx, nil, nil, 1000)
	if err != nil || fmt.Sprint(strs(keys)) != fmt.Sprint(model) {
		t.Fatalf("after a batch put raced with splits: %d keys %v", len(keys), err)
	}
}

func TestDeadStoreFailsOverToAnotherPeer(t *testing.T) {
	c := newFakeCluster(t, 3, splitEvery(10, 60)...)
	cl := newTestClient(t, c)
	ctx := context.Background()
	fill(t, cl, 60, nil)
	// Store 1 dies; its regions elect leaders elsewhere.
	c.stopStore(1)
	c.moveLeadersOff(1)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	undetermined := 0
	for i := 0; i < 60; i++ {
		err := cl.Put(ctx, bs(keyN(i)), bs("after"))
		if errors.Is(err, ErrUndetermined) && undetermined < 3 {
			// Sent on the connection to store 1 before the client saw it
			// drop: the put is not re-sent by the SDK; this caller may.
			undetermined++
			i--
			continue
		}
		if err != nil {
			t.Fatalf("put %d with store 1 dead: %v", i, err)
		}
	}
	keys, vals, err := cl.Scan(ctx, nil, nil, 100)
	if err != nil || len(keys) != 60 {
		t.Fatalf("scan with store 1 dead: %d keys, %v", len(keys), err)
	}
	for _, v := range vals {
		if string(v) != "after" {
			t.Fatalf("value %q", v)
		}
	}
	// A compare-and-swap fails over too: the dead store is seen as not
	// connected before anything is sent.
	if _, ok, err := cl.CompareAndSwap(ctx, bs(keyN(0)), bs("after"), bs("cas")); err != nil || !ok {
		t.Fatalf("cas with store 1 dead: %v %v", ok, err)
	}
}

func TestNotLeaderWithoutHintTriesOtherPeers(t *testing.T) {
	c := newFakeCluster(t, 3)
	cl := newTestClient(t, c)
	ctx := context.Background()
	if err := cl.Put(ctx, bs("a"), bs("1")); err != nil {
		t.Fatal(err)
	}
	c.setNoLeaderHint(true)
	c.transferLeader("a")
	c.transferLeader("a")
	if v, err := cl.Get(ctx, bs("a")); err != nil || string(v) != "1" {
		t.Fatalf("get: %q %v", v, err)
	}
}

func TestBusyStoreIsRetried(t *testing.T) {
	c := newFakeCluster(t, 1)
	cl := newTestClient(t, c)
	c.setBusy(1, 3)
	if err := cl.Put(context.Background(), bs("a"), bs("1")); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlinePassesWithLastRegionError(t *testing.T) {
	c := newFakeCluster(t, 3)
	cl := newTestClient(t, c, WithBackoff(time.Millisecond, 50*time.Millisecond), WithRetryBudget(1<<20))
	for s := uint64(1); s <= 3; s++ {
		c.setBusy(s, -1)
	}
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := cl.Get(ctx, bs("a"))
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrServerIsBusy) {
		t.Fatalf("err = %v; want deadline exceeded and the last region error", err)
	}
	var re *RegionError
	if !errors.As(err, &re) || re.Err.ServerIsBusy == nil {
		t.Fatalf("err %v carries no *RegionError", err)
	}
	if took > deadline+200*time.Millisecond {
		t.Fatalf("returned %v after a %v deadline", took, deadline)
	}
	// Same for a batch, a scan and a dead cluster.
	ctx2, cancel2 := context.WithTimeout(context.Background(), deadline)
	defer cancel2()
	if _, _, err := cl.Scan(ctx2, nil, nil, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("scan: %v", err)
	}
	for s := uint64(1); s <= 3; s++ {
		c.stopStore(s)
	}
	ctx3, cancel3 := context.WithTimeout(context.Background(), deadline)
	defer cancel3()
	start = time.Now()
	err = cl.BatchPut(ctx3, [][]byte{bs("a"), bs("b")}, [][]byte{bs("1"), bs("2")})
	// A write whose connection broke after sending is not re-sent: its
	// outcome is unknown (ErrUndetermined) rather than a deadline.
	if !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUndetermined)) || time.Since(start) > deadline+200*time.Millisecond {
		t.Fatalf("batch put against dead stores: %v after %v", err, time.Since(start))
	}
}

func TestRetryBudgetRunsOut(t *testing.T) {
	c := newFakeCluster(t, 1)
	cl := newTestClient(t, c, WithRetryBudget(3))
	c.setBusy(1, -1)
	err := cl.Put(context.Background(), bs("a"), bs("1"))
	if !errors.Is(err, ErrRetriesExhausted) || !errors.Is(err, ErrServerIsBusy) {
		t.Fatalf("err = %v", err)
	}
	if n := c.count("RawPut"); n != 4 {
		t.Fatalf("%d attempts with a budget of 3 retries", n)
	}
}

func TestStaleRegionResultsAreNeverUsed(t *testing.T) {
	// Every region error in the fake carries poisoned data; here each
	// operation meets one (stale epoch after a split, or a moved leader).
	c := newFakeCluster(t, 3)
	cl := newTestClient(t, c)
	ctx := context.Background()
	fill(t, cl, 20, nil)
	ops := []struct {
		name string
		run  func() [][]byte
	}{
		{"Get", func() [][]byte { v, _ := cl.Get(ctx, bs(keyN(15))); return [][]byte{v} }},
		{"BatchGet", func() [][]byte {
			p, _ := cl.BatchGet(ctx, [][]byte{bs(keyN(1)), bs(keyN(15))})
			var out [][]byte
			for _, kv := range p {
				out = append(out, kv.Key, kv.Value)
			}
			return out
		}},
		{"Scan", func() [][]byte { k, v, _ := cl.Scan(ctx, nil, nil, 100); return append(k, v...) }},
		{"ReverseScan", func() [][]byte { k, v, _ := cl.ReverseScan(ctx, nil, nil, 100); return append(k, v...) }},
		{"CompareAndSwap", func() [][]byte { p, _, _ := cl.CompareAndSwap(ctx, bs(keyN(15)), bs("x"), bs("y")); return [][]byte{p} }},
	}
	for i, op := range ops {
		c.split(keyN(i + 2))
		c.transferLeader(keyN(15))
		before := c.count("RawGet") + c.count("RawBatchGet") + c.count("RawScan") + c.count("RawCompareAndSwap")
		out := op.run()
		noStale(t, op.name, out...)
		if len(out) == 0 || out[0] == nil {
			t.Fatalf("%s returned nothing", op.name)
		}
		after := c.count("RawGet") + c.count("RawBatchGet") + c.count("RawScan") + c.count("RawCompareAndSwap")
		if after-before < 2 {
			t.Fatalf("%s met no region error (%d RPCs): the test proves nothing", op.name, after-before)
		}
	}
}

func TestInvalidCallsAreRefusedLocally(t *testing.T) {
	c := newFakeCluster(t, 1)
	cl := newTestClient(t, c)
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		want error
	}{
		{cl.Put(ctx, nil, bs("v")), ErrEmptyKey},
		{cl.Put(ctx, bs("k"), nil), ErrEmptyValue},
		{cl.Delete(ctx, bs("")), ErrEmptyKey},
		{cl.BatchPut(ctx, [][]byte{bs("a")}, nil), ErrMismatchedBatch},
		{cl.BatchPut(ctx, [][]byte{bs("a")}, [][]byte{{}}), ErrEmptyValue},
		{cl.BatchDelete(ctx, [][]byte{bs("a"), nil}), ErrEmptyKey},
		{cl.DeleteRange(ctx, bs("b"), bs("a")), ErrInvalidRange},
		{second(cl.Get(ctx, nil)), ErrEmptyKey},
		{second(cl.BatchGet(ctx, [][]byte{nil})), ErrEmptyKey},
		{third(cl.Scan(ctx, nil, nil, DefaultMaxScanLimit+1)), ErrScanLimit},
		{third(cl.Scan(ctx, nil, nil, -1)), ErrScanLimit},
		{third(cl.Scan(ctx, bs("b"), bs("b"), 1)), ErrInvalidRange},
		{third(cl.ReverseScan(ctx, bs("a"), bs("b"), 1)), ErrInvalidRange},
		{casErr(cl.CompareAndSwap(ctx, bs("k"), bs("a"), nil)), ErrEmptyValue},
		{casErr(cl.CompareAndSwap(ctx, bs("k"), []byte{}, bs("v"))), ErrEmptyValue},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("got %v, want %v", tc.err, tc.want)
		}
	}
	if n := c.schedCalls.Load(); n != 0 {
		t.Fatalf("invalid calls reached the scheduler %d times", n)
	}
	_ = cl.Close()
	if err := cl.Put(ctx, bs("a"), bs("b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }
func casErr(_ []byte, _ bool, err error) error  { return err }

func TestServerErrorIsNotRetried(t *testing.T) {
	c := newFakeCluster(t, 1)
	cl := newTestClient(t, c, WithColumnFamily("nope"))
	err := cl.Put(context.Background(), bs("a"), bs("1"))
	var se *ServerError
	if !errors.Is(err, ErrServer) || !errors.As(err, &se) || !strings.Contains(se.Message, "nope") {
		t.Fatalf("err = %v", err)
	}
	if n := c.count("RawPut"); n != 1 {
		t.Fatalf("a refused request was sent %d times", n)
	}
}

func TestCASSemantics(t *testing.T) {
	c := newFakeCluster(t, 3, "m")
	cl := newTestClient(t, c)
	ctx := context.Background()
	prev, ok, err := cl.CompareAndSwap(ctx, bs("a"), nil, bs("1"))
	if err != nil || !ok || prev != nil {
		t.Fatalf("cas absent->1: %q %v %v", prev, ok, err)
	}
	prev, ok, err = cl.CompareAndSwap(ctx, bs("a"), nil, bs("2"))
	if err != nil || ok || string(prev) != "1" {
		t.Fatalf("cas absent->2 on a present key: %q %v %v", prev, ok, err)
	}
	prev, ok, err = cl.CompareAndSwap(ctx, bs("a"), bs("1"), bs("3"))
	if err != nil || !ok || string(prev) != "1" {
		t.Fatalf("cas 1->3: %q %v %v", prev, ok, err)
	}
	prev, ok, err = cl.CompareAndSwap(ctx, bs("z"), bs("1"), bs("3"))
	if err != nil || ok || prev != nil {
		t.Fatalf("cas on a missing key: %q %v %v", prev, ok, err)
	}
}

func TestUndeterminedOutcome(t *testing.T) {
	c := newFakeCluster(t, 1)
	cl := newTestClient(t, c)
	ctx := context.Background()
	// A put of unknown outcome is not sent again either: a re-sent put can
	// apply after another client's write and revert it.
	c.setUndetermined()
	if err := cl.Put(ctx, bs("a"), bs("1")); !errors.Is(err, ErrUndetermined) {
		t.Fatalf("put of unknown outcome: %v", err)
	}
	if n := c.count("RawPut"); n != 1 {
		t.Fatalf("put sent %d times", n)
	}
	// A compare-and-swap is not: a retry would report "not swapped" for
	// the swap the first attempt made.
	c.setUndetermined()
	prev, ok, err := cl.CompareAndSwap(ctx, bs("a"), bs("1"), bs("2"))
	if !errors.Is(err, ErrUndetermined) || ok || prev != nil {
		t.Fatalf("cas of unknown outcome: %q %v %v", prev, ok, err)
	}
	if n := c.count("RawCompareAndSwap"); n != 1 {
		t.Fatalf("cas of unknown outcome sent %d times", n)
	}
	if v, _ := cl.Get(ctx, bs("a")); string(v) != "2" {
		t.Fatalf("value after the undetermined cas: %q", v)
	}
}

// TestWriteNotResentAfterLostReply: a write that the store applied but whose
// reply was lost (connection dropped, attempt timed out) must come back as
// ErrUndetermined and never be sent again. A re-sent put would apply after
// another client's later put and revert the key to the old value: the
// chaos test's register history (seed 1795671241773394769) was illegal
// this way.
func TestWriteNotResentAfterLostReply(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    lostReplyMode
	}{{"dropped", replyDropped}, {"late", replyLate}} {
		t.Run(mode.name, func(t *testing.T) {
			c := newFakeCluster(t, 3, "m")
			cl := newTestClient(t, c, WithRequestTimeout(100*time.Millisecond))
			other := newTestClient(t, c)
			ctx := context.Background()
			writes := []struct {
				method string
				write  func() error
			}{
				{"RawPut", func() error { return cl.Put(ctx, bs("a"), bs("mine")) }},
				{"RawDelete", func() error { return cl.Delete(ctx, bs("a")) }},
				{"RawBatchPut", func() error { return cl.BatchPut(ctx, [][]byte{bs("a")}, [][]byte{bs("mine")}) }},
				{"RawDeleteRange", func() error { return cl.DeleteRange(ctx, bs("a"), bs("b")) }},
			}
			for _, w := range writes {
				before := c.appliedWrites()
				c.setLostReply(mode.m)
				if err := w.write(); !errors.Is(err, ErrUndetermined) {
					t.Fatalf("%s whose reply was lost: err = %v; want ErrUndetermined", w.method, err)
				}
				if n := c.appliedWrites() - before; n != 1 {
					t.Fatalf("%s whose reply was lost was applied %d times", w.method, n)
				}
				// Another client writes after; nothing may undo it.
				if err := other.Put(ctx, bs("a"), bs("theirs")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
				if v, err := other.Get(ctx, bs("a")); err != nil || string(v) != "theirs" {
					t.Fatalf("after %s: a = %q, %v; want the later put's value", w.method, v, err)
				}
			}
			// A batch over two regions: one part's reply lost makes the
			// whole call undetermined.
			c.setLostReply(mode.m)
			err := cl.BatchPut(ctx, [][]byte{bs("a"), bs("z")}, [][]byte{bs("1"), bs("2")})
			if !errors.Is(err, ErrUndetermined) {
				t.Fatalf("batch put with a lost reply: %v", err)
			}
		})
	}
}

// TestPutRetryCannotRevertLaterWrite replays, on the fake cluster, the
// history the chaos test (seed 1795671241773394769) found illegal: a put is
// applied but its reply is lost; another client reads its value and
// overwrites it; a re-sent put would then apply the old value again, and
// a later read sees the write revert. The history is checked with
// porcupine: it must be linearizable.
func TestPutRetryCannotRevertLaterWrite(t *testing.T) {
	c := newFakeCluster(t, 3)
	const attemptTimeout = 300 * time.Millisecond
	a := newTestClient(t, c, WithRequestTimeout(attemptTimeout))
	b := newTestClient(t, c)
	ctx := context.Background()
	rec := linearizability.NewRecorder()
	get := func() {
		call := rec.Now()
		v, err := b.Get(ctx, bs("k"))
		if err != nil {
			t.Fatal(err)
		}
		rec.Record(1, linearizability.Input{Kind: linearizability.Get, Key: "k"}, call,
			linearizability.Output{Value: string(v), Found: v != nil})
	}

	c.setLostReply(replyLate) // applied; no reply until the attempt's deadline
	done := make(chan struct{})
	go func() {
		defer close(done)
		call := rec.Now()
		err := a.Put(ctx, bs("k"), bs("first"))
		rec.Record(0, linearizability.Input{Kind: linearizability.Put, Key: "k", Value: "first"}, call,
			linearizability.Output{Unknown: err != nil})
		if err != nil && !errors.Is(err, ErrUndetermined) {
			t.Errorf("put with a lost reply: %v; want ErrUndetermined", err)
		}
	}()
	// While the first attempt waits for its deadline: b sees the put, then
	// overwrites it.
	for deadline := time.Now().Add(attemptTimeout / 2); ; {
		v, err := b.Get(ctx, bs("k"))
		if err == nil && string(v) == "first" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put not applied: %q %v", v, err)
		}
		time.Sleep(time.Millisecond)
	}
	get()
	call := rec.Now()
	if err := b.Put(ctx, bs("k"), bs("second")); err != nil {
		t.Fatal(err)
	}
	rec.Record(1, linearizability.Input{Kind: linearizability.Put, Key: "k", Value: "second"}, call, linearizability.Output{})
	<-done
	get()
	if res := linearizability.Check(rec.History(), 10*time.Second); res != porcupine.Ok {
		t.Fatalf("history %v: the put applied twice (RawPut sent %d times in all, once by the other client)", res, c.count("RawPut"))
	}
}

// TestBatchPutLaterPairWinsAcrossChunks: a region's part of a BatchPut
// larger than one RPC (DefaultBatchPartSize keys) goes out in chunks, in
// parallel. A key whose earlier pair lands in one chunk and its later pair
// in another must still end with the later value. The fake lets the chunk
// carrying the earlier pair apply only after the later pair has applied.
func TestBatchPutLaterPairWinsAcrossChunks(t *testing.T) {
	c := newFakeCluster(t, 3)
	cl := newTestClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys, vals [][]byte
	keys, vals = append(keys, bs("dup")), append(vals, bs("earlier"))
	for i := range DefaultBatchPartSize + 10 {
		keys, vals = append(keys, bs(fmt.Sprintf("k%06d", i))), append(vals, bs("v"))
	}
	keys, vals = append(keys, bs("dup")), append(vals, bs("later"))

	laterApplied := make(chan struct{})
	var sentDup atomic.Int64
	hook := func(req *kvrpcpb.RawBatchPutRequest) {
		for _, p := range req.Pairs {
			if string(p.Key) != "dup" {
				continue
			}
			sentDup.Add(1)
			if string(p.Value) == "earlier" {
				select {
				case <-laterApplied:
				case <-ctx.Done():
				}
			}
		}
	}
	c.batchPutHook.Store(&hook)
	done := make(chan error, 1)
	go func() { done <- cl.BatchPut(ctx, keys, vals) }()
	// The chunk with the later pair applies; then the earlier one may go.
	waitUntil(t, 10*time.Second, "the later pair to apply", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range c.regions {
			if string(r.data["dup"]) == "later" {
				return true
			}
		}
		return false
	})
	close(laterApplied)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := cl.Get(ctx, bs("dup")); err != nil || string(v) != "later" {
		t.Fatalf("dup = %q, %v; want the later pair's value", v, err)
	}
	if n := sentDup.Load(); n != 1 {
		t.Fatalf("the duplicated key was sent %d times, want once (its last pair)", n)
	}
}

// waitUntil polls cond until it holds; the test fails after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEpochNotMatchFromABehindStoreBacksOff: a store answering
// EpochNotMatch with only an older view of the region (a leader that has
// not applied a split yet) gets time to catch up: the client backs off
// between attempts and keeps its newer view, instead of retrying at once
// and spending its retry budget in milliseconds.
func TestEpochNotMatchFromABehindStoreBacksOff(t *testing.T) {
	c := newFakeCluster(t, 3)
	const minBackoff = 20 * time.Millisecond
	cl := newTestClient(t, c, WithBackoff(minBackoff, time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Put(ctx, bs("a"), bs("1")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.behind = 4
	c.mu.Unlock()
	start := time.Now()
	if err := cl.Put(ctx, bs("a"), bs("2")); err != nil {
		t.Fatal(err)
	}
	// Four backoffs, doubling from the minimum.
	if took, want := time.Since(start), minBackoff*(1+2+4+8); took < want {
		t.Fatalf("four stale EpochNotMatch answers took %v, want at least %v of backoff", took, want)
	}
	r, err := cl.cache.locate(ctx, bs("a"))
	if err != nil || r.epoch().GetVersion() != 1 {
		t.Fatalf("cached region %v, %v; want the current one (version 1) kept", r.meta, err)
	}
}
