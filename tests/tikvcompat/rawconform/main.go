// Command rawconform runs TiKV's own raw client, github.com/tikv/client-go/v2
// rawkv, unmodified, against a cluster whose scheduler serves the PD API,
// and checks every answer against a model of what the cluster should hold.
// It exits non-zero on the first mismatch or error.
//
// It lives in its own Go module because client-go's kvproto packages have
// the same proto names as regionkv's: linking both into one binary would
// register each proto name twice.
//
// First it checks the PD API through client-go's PD client (checkPD). Then
// one round, over keys PREFIX00000 .. PREFIX<n-1>: BatchPut all, BatchGet
// all, Get each, Put a third again, Scan forward (whole range, with limits
// and bounds), ReverseScan, Delete a fifth, BatchDelete a seventh,
// DeleteRange a middle half, CompareAndSwap (its edge cases, then concurrent
// increments of one counter, which come out exact only if CAS is atomic),
// and finally DeleteRange of everything. Rounds repeat until -duration has
// passed, so that splits and leader moves made meanwhile are crossed.
//
// -cacert, -cert and -key give client-go its security config (mutual TLS).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/tikv/client-go/v2/config"
	"github.com/tikv/client-go/v2/metrics"
	"github.com/tikv/client-go/v2/rawkv"
	pd "github.com/tikv/pd/client"
)

func main() {
	pd := flag.String("pd", "127.0.0.1:2379", "scheduler (PD) addresses, comma-separated")
	batch := flag.Bool("batch", true, "send requests over the BatchCommands stream (client-go's default); false: unary RPCs")
	prefix := flag.String("prefix", "k", "key prefix; keys are PREFIX%05d")
	n := flag.Int("keys", 2000, "keys per round")
	minRegions := flag.Int("min-regions", 1, "fail unless the PD API reports at least this many regions")
	duration := flag.Duration("duration", 0, "repeat rounds until this much time has passed (at least one round)")
	timeout := flag.Duration("timeout", 5*time.Minute, "deadline of the whole run")
	cacert := flag.String("cacert", "", "TLS: the cluster's CA (with -cert and -key: client-go's security config)")
	cert := flag.String("cert", "", "TLS: the client's certificate")
	key := flag.String("key", "", "TLS: the client's key")
	flag.Parse()

	config.UpdateGlobal(func(c *config.Config) {
		if !*batch {
			c.TiKVClient.MaxBatchSize = 0 // client-go: no batch client, unary RPCs only
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var opts []rawkv.ClientOpt
	if *cacert != "" {
		// client-go's own TLS: to the PD API and to every store.
		opts = append(opts, rawkv.WithSecurity(config.NewSecurity(*cacert, *cert, *key, nil)))
	}
	cli, err := rawkv.NewClientWithOpts(ctx, strings.Split(*pd, ","), opts...)
	if err != nil {
		fail("connect: %v", err)
	}
	defer cli.Close()
	cli.SetAtomicForCAS(true) // CompareAndSwap needs it; puts then carry for_cas

	if err := checkPD(ctx, cli.GetPDClient(), *minRegions); err != nil {
		fail("PD API: %v", err)
	}
	c := &conformance{cli: cli, prefix: *prefix, n: *n}
	start := time.Now()
	for round := 1; ; round++ {
		t := time.Now()
		if err := c.round(ctx); err != nil {
			fail("round %d (batch=%v): %v", round, *batch, err)
		}
		fmt.Printf("round %d ok (batch=%v, %d keys) in %v\n", round, *batch, *n, time.Since(t).Round(time.Millisecond))
		if time.Since(start) >= *duration {
			break
		}
	}
	// Make sure the requests took the path asked for.
	frames := batchFramesReceived()
	if *batch != (frames > 0) {
		fail("batch=%v but client-go received %d BatchCommands frames", *batch, frames)
	}
	fmt.Printf("BatchCommands response frames received: %d\n", frames)
	fmt.Println("PASS")
}

// batchFramesReceived counts the BatchCommands response frames client-go's
// batch client received without error.
func batchFramesReceived() uint64 {
	m, ok := metrics.BatchRecvHistogramOK.(prometheus.Metric)
	if !ok {
		fail("client-go's batch receive histogram is a %T", metrics.BatchRecvHistogramOK)
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		fail("read client-go metrics: %v", err)
	}
	return out.GetHistogram().GetSampleCount()
}

// checkPD exercises the PD calls client-go relies on beyond the ones its
// region cache makes on its own: the regions tile the whole key space with
// raw boundaries, each with a leader among its peers; GetRegion and
// GetPrevRegion agree with ScanRegions; every store has an address and is
// found by GetStore; timestamps from the Tso stream increase.
func checkPD(ctx context.Context, pdc pd.Client, minRegions int) error {
	if pdc.GetClusterID(ctx) == 0 {
		return errors.New("cluster ID is 0")
	}
	regions, err := pdc.ScanRegions(ctx, nil, nil, 100000)
	if err != nil {
		return fmt.Errorf("ScanRegions: %w", err)
	}
	if len(regions) < minRegions {
		return fmt.Errorf("ScanRegions returned %d regions, want at least %d", len(regions), minRegions)
	}
	var prevEnd []byte
	for i, r := range regions {
		if !bytes.Equal(r.Meta.StartKey, prevEnd) || (i > 0 && len(prevEnd) == 0) {
			return fmt.Errorf("region %d starts at %q, the previous ends at %q", r.Meta.Id, r.Meta.StartKey, prevEnd)
		}
		prevEnd = r.Meta.EndKey
		if r.Leader == nil || !hasPeer(r.Meta, r.Leader.Id) {
			return fmt.Errorf("region %d: leader %v is not one of its peers %v", r.Meta.Id, r.Leader, r.Meta.Peers)
		}
		got, err := pdc.GetRegion(ctx, r.Meta.StartKey)
		if err != nil || got == nil || got.Meta.Id != r.Meta.Id {
			return fmt.Errorf("GetRegion(%q) = %v, %v; want region %d", r.Meta.StartKey, got, err, r.Meta.Id)
		}
		if i > 0 {
			prev, err := pdc.GetPrevRegion(ctx, r.Meta.StartKey)
			if err != nil || prev == nil || prev.Meta.Id != regions[i-1].Meta.Id {
				return fmt.Errorf("GetPrevRegion(%q) = %v, %v; want region %d", r.Meta.StartKey, prev, err, regions[i-1].Meta.Id)
			}
		}
	}
	if len(prevEnd) != 0 {
		return fmt.Errorf("the last region ends at %q, not at the end of the key space", prevEnd)
	}
	stores, err := pdc.GetAllStores(ctx)
	if err != nil || len(stores) == 0 {
		return fmt.Errorf("GetAllStores = %d stores, %v", len(stores), err)
	}
	for _, st := range stores {
		got, err := pdc.GetStore(ctx, st.Id)
		if err != nil || got == nil || got.Address == "" || got.Address != st.Address {
			return fmt.Errorf("GetStore(%d) = %v, %v; GetAllStores has %v", st.Id, got, err, st)
		}
	}
	p1, l1, err := pdc.GetTS(ctx)
	if err != nil {
		return fmt.Errorf("GetTS: %w", err)
	}
	p2, l2, err := pdc.GetTS(ctx)
	if err != nil {
		return fmt.Errorf("GetTS: %w", err)
	}
	if p2 < p1 || (p2 == p1 && l2 <= l1) {
		return fmt.Errorf("GetTS went from %d.%d to %d.%d", p1, l1, p2, l2)
	}
	fmt.Printf("PD API ok: %d regions, %d stores\n", len(regions), len(stores))
	return nil
}

func hasPeer(r *metapb.Region, id uint64) bool {
	for _, p := range r.Peers {
		if p.Id == id {
			return true
		}
	}
	return false
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

type conformance struct {
	cli    *rawkv.Client
	prefix string
	n      int
	model  map[string]string // what the range should hold
}

func (c *conformance) key(i int) []byte { return []byte(fmt.Sprintf("%s%05d", c.prefix, i)) }

// end is the first key after every key of the run.
func (c *conformance) end() []byte { return []byte(c.prefix + "~") }

func (c *conformance) round(ctx context.Context) error {
	// Start from an empty range: an earlier failed run may have left keys.
	if err := c.cli.DeleteRange(ctx, []byte(c.prefix), c.end()); err != nil {
		return fmt.Errorf("initial DeleteRange: %w", err)
	}
	c.model = map[string]string{}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"BatchPut", c.batchPut},
		{"BatchGet", c.batchGet},
		{"Get", c.getEach},
		{"Put", c.putSome},
		{"Scan", c.scans},
		{"ReverseScan", c.reverseScans},
		{"Delete", c.deleteSome},
		{"BatchDelete", c.batchDelete},
		{"DeleteRange", c.deleteRange},
		{"CompareAndSwap", c.compareAndSwap},
		{"CompareAndSwap concurrent", c.casCounter},
		{"cleanup", c.cleanup},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func (c *conformance) batchPut(ctx context.Context) error {
	var keys, values [][]byte
	for i := range c.n {
		k, v := c.key(i), fmt.Sprintf("v1-%d", i)
		keys, values = append(keys, k), append(values, []byte(v))
		c.model[string(k)] = v
	}
	if err := c.cli.BatchPut(ctx, keys, values); err != nil {
		return err
	}
	return c.checkAll(ctx)
}

// checkAll compares a BatchGet of every key, present or not, with the model.
func (c *conformance) checkAll(ctx context.Context) error {
	keys := make([][]byte, c.n)
	for i := range c.n {
		keys[i] = c.key(i)
	}
	got, err := c.cli.BatchGet(ctx, keys)
	if err != nil {
		return err
	}
	if len(got) != len(keys) {
		return fmt.Errorf("BatchGet of %d keys returned %d values", len(keys), len(got))
	}
	for i, k := range keys {
		want, ok := c.model[string(k)]
		if ok != (got[i] != nil) || string(got[i]) != want {
			return fmt.Errorf("BatchGet %s = %q, want %q (present=%v)", k, got[i], want, ok)
		}
	}
	return nil
}

func (c *conformance) batchGet(ctx context.Context) error {
	// Some keys twice and some absent, out of order.
	keys := [][]byte{c.key(c.n - 1), []byte(c.prefix + "absent"), c.key(0), c.key(c.n / 2), c.key(0)}
	got, err := c.cli.BatchGet(ctx, keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if want := c.model[string(k)]; string(got[i]) != want {
			return fmt.Errorf("BatchGet %s = %q, want %q", k, got[i], want)
		}
	}
	return nil
}

// parallel runs fn(i) for i in [0, n) on 8 workers; the first error wins.
func parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func (c *conformance) getEach(ctx context.Context) error {
	if err := parallel(c.n, func(i int) error {
		v, err := c.cli.Get(ctx, c.key(i))
		if err != nil {
			return err
		}
		if want := c.model[string(c.key(i))]; string(v) != want {
			return fmt.Errorf("Get %s = %q, want %q", c.key(i), v, want)
		}
		return nil
	}); err != nil {
		return err
	}
	v, err := c.cli.Get(ctx, []byte(c.prefix+"absent"))
	if err != nil || v != nil {
		return fmt.Errorf("Get of an absent key = %q, %v; want nil, nil", v, err)
	}
	return nil
}

func (c *conformance) putSome(ctx context.Context) error {
	var mu sync.Mutex
	if err := parallel(c.n/3, func(j int) error {
		i := 3 * j
		v := fmt.Sprintf("v2-%d", i)
		if err := c.cli.Put(ctx, c.key(i), []byte(v)); err != nil {
			return err
		}
		mu.Lock()
		c.model[string(c.key(i))] = v
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	return c.checkAll(ctx)
}

// sortedModel returns the model's keys in [lo, hi) in order (hi empty: no bound).
func (c *conformance) sortedModel(lo, hi []byte) []string {
	var keys []string
	for k := range c.model {
		if k >= string(lo) && (len(hi) == 0 || k < string(hi)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (c *conformance) compare(op string, keys, values [][]byte, want []string) error {
	if len(keys) != len(want) {
		return fmt.Errorf("%s returned %d pairs, want %d", op, len(keys), len(want))
	}
	for i, k := range keys {
		if string(k) != want[i] || string(values[i]) != c.model[want[i]] {
			return fmt.Errorf("%s pair %d = %s=%q, want %s=%q", op, i, k, values[i], want[i], c.model[want[i]])
		}
	}
	return nil
}

func (c *conformance) scans(ctx context.Context) error {
	all := c.sortedModel([]byte(c.prefix), c.end())
	// The whole range, crossing every region of it.
	keys, values, err := c.cli.Scan(ctx, []byte(c.prefix), c.end(), len(all)+10)
	if err != nil {
		return err
	}
	if err := c.compare("Scan all", keys, values, all); err != nil {
		return err
	}
	// A limit that stops mid-way, from a start key in the middle.
	from := c.key(c.n / 3)
	want := c.sortedModel(from, c.end())[:c.n/4]
	keys, values, err = c.cli.Scan(ctx, from, c.end(), c.n/4)
	if err != nil {
		return err
	}
	if err := c.compare("Scan limited", keys, values, want); err != nil {
		return err
	}
	// An end bound, exclusive.
	lo, hi := c.key(c.n/5), c.key(c.n/2)
	keys, values, err = c.cli.Scan(ctx, lo, hi, c.n)
	if err != nil {
		return err
	}
	if err := c.compare("Scan bounded", keys, values, c.sortedModel(lo, hi)); err != nil {
		return err
	}
	// Keys only.
	keys, values, err = c.cli.Scan(ctx, lo, hi, c.n, rawkv.ScanKeyOnly())
	if err != nil {
		return err
	}
	for i := range values {
		values[i] = []byte(c.model[string(keys[i])]) // values are not returned
	}
	return c.compare("Scan key-only", keys, values, c.sortedModel(lo, hi))
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func (c *conformance) reverseScans(ctx context.Context) error {
	// ReverseScan(start, end) returns [end, start) downward.
	all := reverse(c.sortedModel([]byte(c.prefix), c.end()))
	keys, values, err := c.cli.ReverseScan(ctx, c.end(), []byte(c.prefix), len(all)+10)
	if err != nil {
		return err
	}
	if err := c.compare("ReverseScan all", keys, values, all); err != nil {
		return err
	}
	hi, lo := c.key(4*c.n/5), c.key(c.n/10)
	want := reverse(c.sortedModel(lo, hi))
	keys, values, err = c.cli.ReverseScan(ctx, hi, lo, c.n/3)
	if err != nil {
		return err
	}
	return c.compare("ReverseScan limited", keys, values, want[:min(len(want), c.n/3)])
}

func (c *conformance) deleteSome(ctx context.Context) error {
	var mu sync.Mutex
	if err := parallel(c.n/5, func(j int) error {
		k := c.key(5*j + 1)
		if err := c.cli.Delete(ctx, k); err != nil {
			return err
		}
		mu.Lock()
		delete(c.model, string(k))
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	// Deleting a missing key succeeds.
	if err := c.cli.Delete(ctx, []byte(c.prefix+"absent")); err != nil {
		return fmt.Errorf("Delete of an absent key: %w", err)
	}
	return c.checkAll(ctx)
}

func (c *conformance) batchDelete(ctx context.Context) error {
	var keys [][]byte
	for i := 2; i < c.n; i += 7 {
		keys = append(keys, c.key(i))
		delete(c.model, string(c.key(i)))
	}
	if err := c.cli.BatchDelete(ctx, keys); err != nil {
		return err
	}
	return c.checkAll(ctx)
}

func (c *conformance) deleteRange(ctx context.Context) error {
	lo, hi := c.key(c.n/4), c.key(3*c.n/4)
	if err := c.cli.DeleteRange(ctx, lo, hi); err != nil {
		return err
	}
	for _, k := range c.sortedModel(lo, hi) {
		delete(c.model, k)
	}
	if err := c.checkAll(ctx); err != nil {
		return err
	}
	keys, values, err := c.cli.Scan(ctx, []byte(c.prefix), c.end(), c.n)
	if err != nil {
		return err
	}
	return c.compare("Scan after DeleteRange", keys, values, c.sortedModel([]byte(c.prefix), c.end()))
}

func (c *conformance) compareAndSwap(ctx context.Context) error {
	k := []byte(c.prefix + "cas")
	expect := func(op string, prev []byte, ok bool, err error, wantPrev []byte, wantOK bool) error {
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if ok != wantOK || !bytes.Equal(prev, wantPrev) || (prev == nil) != (wantPrev == nil) {
			return fmt.Errorf("%s = (%q, %v), want (%q, %v)", op, prev, ok, wantPrev, wantOK)
		}
		return nil
	}
	prev, ok, err := c.cli.CompareAndSwap(ctx, k, nil, []byte("a"))
	if err := expect("CAS absent->a", prev, ok, err, nil, true); err != nil {
		return err
	}
	prev, ok, err = c.cli.CompareAndSwap(ctx, k, nil, []byte("b"))
	if err := expect("CAS absent->b on a present key", prev, ok, err, []byte("a"), false); err != nil {
		return err
	}
	prev, ok, err = c.cli.CompareAndSwap(ctx, k, []byte("x"), []byte("b"))
	if err := expect("CAS x->b on a", prev, ok, err, []byte("a"), false); err != nil {
		return err
	}
	prev, ok, err = c.cli.CompareAndSwap(ctx, k, []byte("a"), []byte("b"))
	if err := expect("CAS a->b", prev, ok, err, []byte("a"), true); err != nil {
		return err
	}
	if v, err := c.cli.Get(ctx, k); err != nil || string(v) != "b" {
		return fmt.Errorf("Get after CAS = %q, %v; want b", v, err)
	}
	return c.cli.Delete(ctx, k)
}

// casCounter increments one counter from 8 workers, each reading and then
// swapping until its swap wins. Lost updates would leave it short.
func (c *conformance) casCounter(ctx context.Context) error {
	const workers, perWorker = 8, 25
	k := []byte(c.prefix + "counter")
	if _, ok, err := c.cli.CompareAndSwap(ctx, k, nil, []byte("0")); err != nil || !ok {
		return fmt.Errorf("init counter: %v, %v", ok, err)
	}
	if err := parallel(workers, func(int) error {
		for range perWorker {
			cur, err := c.cli.Get(ctx, k)
			if err != nil {
				return err
			}
			for {
				n, err := strconv.Atoi(string(cur))
				if err != nil {
					return fmt.Errorf("counter holds %q", cur)
				}
				prev, ok, err := c.cli.CompareAndSwap(ctx, k, cur, []byte(strconv.Itoa(n+1)))
				if err != nil {
					return err
				}
				if ok {
					break
				}
				cur = prev
			}
		}
		return nil
	}); err != nil {
		return err
	}
	v, err := c.cli.Get(ctx, k)
	if err != nil {
		return err
	}
	if string(v) != strconv.Itoa(workers*perWorker) {
		return fmt.Errorf("counter = %s after %d increments", v, workers*perWorker)
	}
	return c.cli.Delete(ctx, k)
}

func (c *conformance) cleanup(ctx context.Context) error {
	if err := c.cli.DeleteRange(ctx, []byte(c.prefix), c.end()); err != nil {
		return err
	}
	keys, _, err := c.cli.Scan(ctx, []byte(c.prefix), c.end(), 10)
	if err != nil {
		return err
	}
	if len(keys) != 0 {
		return fmt.Errorf("range not empty after DeleteRange: %q", keys)
	}
	c.model = map[string]string{}
	return nil
}
