package engine

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func TestWriteBatchBasics(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	if !wb.IsEmpty() || wb.Len() != 0 || wb.Size() != 0 {
		t.Fatal("zero batch not empty")
	}
	// An empty batch commits nothing, with or without sync.
	if err := wb.WriteToDB(e.KV, true); err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	must(t, wb.PutCF(CFDefault, key, []byte("v1")))
	must(t, wb.PutCF(CFDefault, key, []byte("v2"))) // later wins
	must(t, wb.PutCF(CFWrite, key, []byte("w")))
	must(t, wb.PutCF(CFLock, key, []byte("l")))
	must(t, wb.DeleteCF(CFLock, key)) // delete after put wins
	must(t, wb.PutCF("", []byte("empty"), nil))
	if wb.Len() != 6 {
		t.Fatalf("Len = %d, want 6", wb.Len())
	}
	if want := 5 + 5 + 4 + 4 + 3 + 7; wb.Size() != want { // encoded keys ("zdk") + values
		t.Fatalf("Size = %d, want %d", wb.Size(), want)
	}
	must(t, wb.WriteToDB(e.KV, false))
	if got := mustGet(t, e, CFDefault, key); string(got) != "v2" {
		t.Errorf("default/k = %q, want v2", got)
	}
	if got := mustGet(t, e, CFWrite, key); string(got) != "w" {
		t.Errorf("write/k = %q, want w", got)
	}
	if got := mustGet(t, e, CFLock, key); got != nil {
		t.Errorf("lock/k = %q, want missing", got)
	}
	// A present empty value is not a missing key.
	if got := mustGet(t, e, CFDefault, []byte("empty")); got == nil || len(got) != 0 {
		t.Errorf("empty value read as %v", got)
	}
	if got := mustGet(t, e, CFDefault, []byte("missing")); got != nil {
		t.Errorf("missing key read as %q", got)
	}
	wb.Reset()
	if !wb.IsEmpty() || wb.Size() != 0 {
		t.Fatal("Reset left data")
	}
}

func TestWriteBatchAppend(t *testing.T) {
	e := openTest(t, testOptions())
	var a, b WriteBatch
	must(t, a.PutCF(CFDefault, []byte("k1"), []byte("a1")))
	must(t, a.PutCF(CFDefault, []byte("k2"), []byte("a2")))
	must(t, b.PutCF(CFDefault, []byte("k2"), []byte("b2"))) // appended later: wins
	must(t, b.DeleteCF(CFDefault, []byte("k1")))
	must(t, b.PutCF(CFWrite, []byte("k3"), []byte("b3")))
	sizeA, sizeB := a.Size(), b.Size()
	a.Append(&b)
	if a.Len() != 5 || a.Size() != sizeA+sizeB {
		t.Fatalf("after Append: Len %d Size %d, want 5 and %d", a.Len(), a.Size(), sizeA+sizeB)
	}
	if b.Len() != 3 || b.Size() != sizeB {
		t.Fatalf("Append changed its argument: Len %d Size %d", b.Len(), b.Size())
	}
	must(t, a.WriteToDB(e.KV, false))
	if got := mustGet(t, e, CFDefault, []byte("k1")); got != nil {
		t.Errorf("k1 = %q, want deleted by the appended batch", got)
	}
	if got := mustGet(t, e, CFDefault, []byte("k2")); string(got) != "b2" {
		t.Errorf("k2 = %q, want b2", got)
	}
	if got := mustGet(t, e, CFWrite, []byte("k3")); string(got) != "b3" {
		t.Errorf("write/k3 = %q, want b3", got)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteBatchRejects(t *testing.T) {
	var wb WriteBatch
	if err := wb.PutCF("nope", []byte("k"), nil); !errors.Is(err, ErrUnknownCF) {
		t.Errorf("PutCF(bad cf) = %v", err)
	}
	if err := wb.DeleteCF("nope", []byte("k")); !errors.Is(err, ErrUnknownCF) {
		t.Errorf("DeleteCF(bad cf) = %v", err)
	}
	if err := wb.PutCF(CFDefault, nil, []byte("v")); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("PutCF(empty key) = %v", err)
	}
	dataKey, _ := DataKey(CFDefault, []byte("k"))
	for _, k := range [][]byte{dataKey, nil, []byte("!badger!x")} {
		if err := wb.Set(k, nil); !errors.Is(err, ErrNotInternalKey) {
			t.Errorf("Set(%x) = %v", k, err)
		}
		if err := wb.Delete(k); !errors.Is(err, ErrNotInternalKey) {
			t.Errorf("Delete(%x) = %v", k, err)
		}
		if err := wb.SetMeta(k, &eraftpb.Entry{}); !errors.Is(err, ErrNotInternalKey) {
			t.Errorf("SetMeta(%x) = %v", k, err)
		}
	}
	if wb.Len() != 0 {
		t.Fatalf("rejected operations left %d entries", wb.Len())
	}
}

func TestMetaRoundTrip(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	hs := &eraftpb.HardState{Term: 5, Vote: 2, Commit: 10}
	must(t, wb.SetMeta(RaftStateKey(7), hs))
	must(t, wb.Set(StoreIdentKey(), []byte("store-1")))
	must(t, wb.WriteToDB(e.Raft, true))

	var got eraftpb.HardState
	found, err := GetMeta(e.Raft, RaftStateKey(7), &got)
	if err != nil || !found || got != *hs {
		t.Fatalf("GetMeta = %+v, %v, %v", got, found, err)
	}
	found, err = GetMeta(e.Raft, RaftStateKey(8), &got)
	if err != nil || found {
		t.Fatalf("GetMeta(missing) = %v, %v", found, err)
	}
	if v, err := GetRaw(e.Raft, StoreIdentKey()); err != nil || string(v) != "store-1" {
		t.Fatalf("GetRaw = %q, %v", v, err)
	}
	wb.Reset()
	must(t, wb.DeleteMeta(RaftStateKey(7)))
	must(t, wb.WriteToDB(e.Raft, true))
	if found, _ := GetMeta(e.Raft, RaftStateKey(7), &got); found {
		t.Fatal("meta survived DeleteMeta")
	}
	// Garbage under a meta key is an error, not a zero message.
	wb.Reset()
	must(t, wb.Set(RaftStateKey(9), []byte{0xFF, 0xFF, 0xFF}))
	must(t, wb.WriteToDB(e.Raft, false))
	if _, err := GetMeta(e.Raft, RaftStateKey(9), &got); err == nil {
		t.Fatal("GetMeta of garbage succeeded")
	}
}

// plainMarshaler has only Marshal, exercising SetMeta's generic path.
type plainMarshaler struct {
	data []byte
	err  error
}

func (p plainMarshaler) Marshal() ([]byte, error) { return p.data, p.err }

func TestSetMetaPlainMarshaler(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	must(t, wb.SetMeta(StoreIdentKey(), plainMarshaler{data: []byte("x")}))
	boom := errors.New("boom")
	if err := wb.SetMeta(StoreIdentKey(), plainMarshaler{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("SetMeta marshal error = %v", err)
	}
	must(t, wb.WriteToDB(e.KV, false))
	if v, _ := GetRaw(e.KV, StoreIdentKey()); string(v) != "x" {
		t.Fatalf("got %q", v)
	}
}

// TestBatchOfFewMiBFits uses the default options, the ones a store runs with.
func TestBatchOfFewMiBFits(t *testing.T) {
	e := openTest(t, Options{})
	var wb WriteBatch
	value := bytes.Repeat([]byte("v"), 1024)
	for i := range 6 * 1024 { // 6 MiB of values
		must(t, wb.PutCF(CFDefault, fmt.Appendf(nil, "key-%06d", i), value))
	}
	must(t, wb.WriteToDB(e.KV, false))
	if got := mustGet(t, e, CFDefault, []byte("key-006143")); !bytes.Equal(got, value) {
		t.Fatal("last key of the big batch missing")
	}
}

func TestBatchTooLargeWritesNothing(t *testing.T) {
	opts := testOptions()
	opts.MemTableSize = 1 << 20 // limit ~157 KB
	e := openTest(t, opts)
	var wb WriteBatch
	value := bytes.Repeat([]byte("v"), 1000)
	for i := range 300 {
		must(t, wb.PutCF(CFDefault, fmt.Appendf(nil, "key-%06d", i), value))
	}
	err := wb.WriteToDB(e.KV, true)
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("WriteToDB(300 KB) = %v, want ErrBatchTooLarge", err)
	}
	if got := mustGet(t, e, CFDefault, []byte("key-000000")); got != nil {
		t.Fatal("a too-large batch was partly written")
	}
}

// TestBatchAtomicToReaders: a reader never sees part of a batch.
func TestBatchAtomicToReaders(t *testing.T) {
	e := openTest(t, testOptions())
	const keys = 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var wb WriteBatch
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wb.Reset()
			for k := range keys {
				_ = wb.PutCF(CFDefault, []byte{'k', byte(k)}, fmt.Appendf(nil, "%d", i))
			}
			if err := wb.WriteToDB(e.KV, false); err != nil {
				t.Error(err) // not Fatal: this is not the test goroutine
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for range 500 {
		snap, err := e.NewSnapshot()
		must(t, err)
		first, err := snap.GetCF(CFDefault, []byte{'k', 0})
		must(t, err)
		for k := 1; k < keys; k++ {
			v, err := snap.GetCF(CFDefault, []byte{'k', byte(k)})
			must(t, err)
			if !bytes.Equal(v, first) {
				snap.Close()
				t.Fatalf("torn batch: key 0 = %q, key %d = %q", first, k, v)
			}
		}
		snap.Close()
	}
}

// TestSyncDB exercises the barrier on a DB that does not sync each write,
// across memtable rotations (1 MiB memtables), and its no-op on one that
// does.
func TestSyncDB(t *testing.T) {
	opts := testOptions()
	opts.MemTableSize = 1 << 20
	e := openTest(t, opts)
	var wb WriteBatch
	value := bytes.Repeat([]byte("x"), 2000)
	for i := range 2000 { // ~4 MB: several memtables
		wb.Reset()
		must(t, wb.PutCF(CFDefault, fmt.Appendf(nil, "k%05d", i), value))
		must(t, wb.WriteToDB(e.KV, i%100 == 0))
	}
	must(t, e.SyncKV())
	must(t, e.SyncRaft())
	if e.KV.Opts().SyncWrites {
		t.Fatal("kv DB syncs writes without SyncKVWrites")
	}

	if !e.Raft.Opts().SyncWrites {
		t.Fatal("raft DB does not sync every write")
	}

	opts.SyncKVWrites = true
	e2 := openTest(t, opts)
	if !e2.KV.Opts().SyncWrites {
		t.Fatal("SyncKVWrites not applied")
	}
	must(t, e2.SyncKV())

	opts.NoSync = true
	e3 := openTest(t, opts)
	if e3.KV.Opts().SyncWrites || e3.Raft.Opts().SyncWrites {
		t.Fatal("NoSync engines sync writes")
	}
	var wb3 WriteBatch
	must(t, wb3.Set(RaftStateKey(1), []byte("hs")))
	must(t, e3.WriteRaft(&wb3, true))
	must(t, e3.WriteKV(&wb3, true))
	must(t, e3.SyncKV())
	must(t, e3.SyncRaft())
}
