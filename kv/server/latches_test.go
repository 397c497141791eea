package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// waitCond polls cond until it holds; the test fails after d.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs f and fails the test if it does not return within d: what
// must not block behind an unrelated stuck write.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

func TestLatchesOverlapOnly(t *testing.T) {
	l := newLatches()
	ctx := context.Background()
	relA1, err := l.acquire(ctx, pointSpan([]byte("a1")))
	if err != nil {
		t.Fatal(err)
	}
	// A range elsewhere and a point elsewhere go at once.
	relB, err := l.acquire(ctx, rangeSpan([]byte("b"), []byte("c")))
	if err != nil {
		t.Fatal(err)
	}
	relC, err := l.acquire(ctx, pointSpan([]byte("c")))
	if err != nil {
		t.Fatal(err)
	}
	// A point inside the held range waits; its context ends it.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if _, err := l.acquire(short, pointSpan([]byte("b5"))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("point inside a held range: %v", err)
	}
	cancel()
	if held, waiting := l.counts(); held != 3 || waiting != 0 {
		t.Fatalf("held %d waiting %d after a waiter gave up", held, waiting)
	}
	// An open-ended range overlaps everything from its start.
	got := make(chan struct{})
	go func() {
		rel, err := l.acquire(ctx, rangeSpan([]byte("a"), nil))
		if err == nil {
			close(got)
			rel()
		}
	}()
	waitCond(t, 5*time.Second, "the open range to queue", func() bool { _, w := l.counts(); return w == 1 })
	// First come, first served: a point after the queued range waits too,
	// even though no holder covers it.
	behind := make(chan struct{})
	go func() {
		rel, err := l.acquire(ctx, pointSpan([]byte("zz")))
		if err == nil {
			close(behind)
			rel()
		}
	}()
	waitCond(t, 5*time.Second, "the point to queue behind the range", func() bool { _, w := l.counts(); return w == 2 })
	relA1()
	relB()
	select {
	case <-got:
		t.Fatal("range granted while c is held")
	default:
	}
	relC()
	<-got
	<-behind
	if held, waiting := l.counts(); held != 0 || waiting != 0 {
		t.Fatalf("held %d waiting %d at the end", held, waiting)
	}
}

// memStorage is a storage over a map whose writes to held regions wait:
// they are never applied before their context ends (a proposal that cannot
// commit), answer UnsettledError, and apply (or are dropped) when the test
// says.
type memStorage struct {
	storage.Storage
	mu      sync.Mutex
	data    map[string][]byte
	hold    map[uint64]bool // regions whose writes wait
	pending []*heldWrite
	reads   chan struct{} // a read started
}

type heldWrite struct {
	batch   []storage.Modify
	settled *storage.Settlement
}

func newMemStorage() *memStorage {
	return &memStorage{data: map[string][]byte{}, hold: map[uint64]bool{}, reads: make(chan struct{}, 16)}
}

func (m *memStorage) applyLocked(batch []storage.Modify) {
	for _, mod := range batch {
		switch mod := mod.(type) {
		case storage.Put:
			m.data[string(mod.Key)] = mod.Value
		case storage.Delete:
			delete(m.data, string(mod.Key))
		case storage.DeleteRange:
			for k := range m.data {
				if rangeSpan(mod.Start, mod.End).contains([]byte(k)) {
					delete(m.data, k)
				}
			}
		}
	}
}

func (m *memStorage) Write(ctx context.Context, kvctx *kvrpcpb.Context, batch []storage.Modify) error {
	m.mu.Lock()
	if !m.hold[kvctx.GetRegionId()] {
		m.applyLocked(batch)
		m.mu.Unlock()
		return nil
	}
	w := &heldWrite{batch: batch, settled: storage.NewSettlement()}
	m.pending = append(m.pending, w)
	m.mu.Unlock()
	<-ctx.Done()
	return &storage.UnsettledError{Err: ctx.Err(), Settlement: w.settled}
}

// settle applies (or drops) every held write and reports it settled.
func (m *memStorage) settle(apply bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.pending {
		if apply {
			m.applyLocked(w.batch)
		}
		w.settled.Settle()
	}
	m.pending = nil
}

func (m *memStorage) held() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

func (m *memStorage) Reader(context.Context, *kvrpcpb.Context) (storage.StorageReader, error) {
	m.reads <- struct{}{}
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := map[string][]byte{}
	for k, v := range m.data {
		snap[k] = v
	}
	return memReader(snap), nil
}

type memReader map[string][]byte

func (r memReader) GetCF(_ string, key []byte) ([]byte, error) { return r[string(key)], nil }
func (r memReader) IterCF(string, engine.IterOptions) engine.Iterator {
	return engine.NewErrorIterator(errors.New("memReader: no iteration"))
}
func (r memReader) Close() {}

func regionCtx(id uint64) *kvrpcpb.Context { return &kvrpcpb.Context{RegionId: id} }

// TestStuckWriteHoldsOnlyItsKeys: a write stuck on a region without quorum
// (region 1) holds up later writes of its own key, and those give up at
// their deadline; writes and a DeleteRange on another region (2) go on.
// With the whole latch table taken by range deletes, the DeleteRange waited
// for the stuck write, and every point write queued behind it.
func TestStuckWriteHoldsOnlyItsKeys(t *testing.T) {
	st := newMemStorage()
	st.hold[1] = true
	s := New(config.Default(), st, nil)
	stuckCtx, cancelStuck := context.WithCancel(context.Background())
	stuck := make(chan *kvrpcpb.RawPutResponse, 1)
	go func() {
		resp, _ := s.RawPut(stuckCtx, &kvrpcpb.RawPutRequest{Context: regionCtx(1), Key: []byte("a1"), Value: []byte("x")})
		stuck <- resp
	}()
	waitCond(t, 5*time.Second, "the write to region 1 to be proposed", func() bool { return st.held() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	within(t, 10*time.Second, "a DeleteRange on region 2", func() {
		resp, err := s.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Context: regionCtx(2), StartKey: []byte("b"), EndKey: []byte("c")})
		if err != nil || resp.Error != "" || resp.RegionError != nil {
			t.Errorf("delete range on region 2: %v %v", resp, err)
		}
	})
	within(t, 10*time.Second, "a put on region 2", func() {
		resp, err := s.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: regionCtx(2), Key: []byte("b5"), Value: []byte("y")})
		if err != nil || resp.Error != "" || resp.RegionError != nil {
			t.Errorf("put on region 2: %v %v", resp, err)
		}
	})
	// A second write of the stuck key waits for its latch, and no longer
	// than its own deadline: it wrote nothing, and says so (ServerIsBusy,
	// which clients retry).
	within(t, 10*time.Second, "a second write of the stuck key", func() {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		resp, err := s.RawPut(short, &kvrpcpb.RawPutRequest{Context: regionCtx(1), Key: []byte("a1"), Value: []byte("z")})
		if err != nil || resp.RegionError.GetServerIsBusy() == nil {
			t.Errorf("second write of the stuck key: %v %v, want ServerIsBusy", resp, err)
		}
	})
	// A request without a deadline is bounded by the store.
	s.maxWait = 50 * time.Millisecond
	within(t, 10*time.Second, "a write with no deadline", func() {
		resp, err := s.RawPut(context.Background(), &kvrpcpb.RawPutRequest{Context: regionCtx(3), Key: []byte("a1"), Value: []byte("w")})
		if err != nil || resp.RegionError.GetServerIsBusy() == nil {
			t.Errorf("write with no deadline behind the stuck one: %v %v, want ServerIsBusy", resp, err)
		}
	})
	cancelStuck()
	if resp := <-stuck; resp.RegionError.GetUndeterminedResult() == nil {
		t.Fatalf("the stuck write's answer %v, want UndeterminedResult", resp)
	}
	st.settle(false)
	waitCond(t, 5*time.Second, "the stuck write's latch to go once settled", func() bool { h, w := s.latches.counts(); return h == 0 && w == 0 })
}

// TestCASWaitsForAnUndeterminedWrite: a put answered as undetermined (its
// deadline passed while its proposal could still commit) keeps its key
// latched until its outcome is known. A compare-and-swap of the key that
// arrives meanwhile must not read around it: here the put applies after
// all, and the CAS, which expected the old value, must fail, reporting the
// put's value. Released at the put's deadline, the latch let the CAS read
// the old value and report success on a value the put then overwrote.
func TestCASWaitsForAnUndeterminedWrite(t *testing.T) {
	st := newMemStorage()
	st.data["k"] = []byte("v0")
	st.hold[1] = true
	s := New(config.Default(), st, nil)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	put, err := s.RawPut(short, &kvrpcpb.RawPutRequest{Context: regionCtx(1), Key: []byte("k"), Value: []byte("v1")})
	cancel()
	if err != nil || put.RegionError.GetUndeterminedResult() == nil {
		t.Fatalf("put past its deadline: %v %v, want UndeterminedResult", put, err)
	}
	st.hold[1] = false // the CAS's own write would commit at once

	cas := make(chan *kvrpcpb.RawCASResponse, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, _ := s.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: regionCtx(1), Key: []byte("k"),
			PreviousValue: []byte("v0"), Value: []byte("v2")})
		cas <- resp
	}()
	// The CAS either reads at once (the latch was let go) or waits for it.
	waitCond(t, 5*time.Second, "the CAS to read or to wait for the latch", func() bool {
		if len(st.reads) > 0 {
			return true
		}
		_, waiting := s.latches.counts()
		return waiting == 1
	})
	// The put's proposal commits after all.
	st.settle(true)
	resp := <-cas
	if resp.Succeed || string(resp.PreviousValue) != "v1" {
		t.Fatalf("CAS v0 -> v2 after an undetermined put of v1 that applied: succeed=%t previous=%q (value now %q)",
			resp.Succeed, resp.PreviousValue, st.data["k"])
	}
}

// TestBatchSubRequestsHaveADeadline: a BatchCommands sub-request runs under
// the stream's context, which has no deadline; a write in it to a region
// that cannot commit is answered (as undetermined) once the store's bound
// or its max_execution_duration_ms passes, instead of never.
func TestBatchSubRequestsHaveADeadline(t *testing.T) {
	st := newMemStorage()
	st.hold[1] = true
	s := New(config.Default(), st, nil)
	gate := make(chan struct{})
	close(gate)
	g := &gatedStream{ctx: context.Background(), recv: make(chan *tikvpb.BatchCommandsRequest, 1),
		sending: make(chan struct{}, 16), gate: gate, sent: make(chan *tikvpb.BatchCommandsResponse, 16)}
	done := make(chan error, 1)
	go func() { done <- s.BatchCommands(g) }()
	put := rawPutCmd("k", "v")
	put.GetRawPut().Context = &kvrpcpb.Context{RegionId: 1, MaxExecutionDurationMs: 50}
	g.recv <- &tikvpb.BatchCommandsRequest{Requests: []*batchReq{put}, RequestIds: []uint64{1}}
	var resp *tikvpb.BatchCommandsResponse
	within(t, 10*time.Second, "the answer to a stuck batched write", func() { resp = <-g.sent })
	if resp.Responses[0].GetRawPut().GetRegionError().GetUndeterminedResult() == nil {
		t.Fatalf("stuck batched write answered %v, want UndeterminedResult", resp)
	}
	close(g.recv)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.settle(false)
}
