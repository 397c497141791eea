package engine

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestSnapshotIsolation(t *testing.T) {
	e := openTest(t, testOptions())
	mustPut(t, e, CFDefault, []byte("a"), []byte("1"))
	mustPut(t, e, CFDefault, []byte("b"), []byte("1"))
	snap, err := e.NewSnapshot()
	must(t, err)
	defer snap.Close()

	// Overwrite, delete and insert after the snapshot.
	var wb WriteBatch
	must(t, wb.PutCF(CFDefault, []byte("a"), []byte("2")))
	must(t, wb.DeleteCF(CFDefault, []byte("b")))
	must(t, wb.PutCF(CFDefault, []byte("c"), []byte("2")))
	must(t, wb.WriteToDB(e.KV, true))

	for k, want := range map[string]string{"a": "1", "b": "1", "c": ""} {
		got, err := snap.GetCF(CFDefault, []byte(k))
		must(t, err)
		if string(got) != want || (want == "" && got != nil) {
			t.Errorf("snapshot %s = %q, want %q", k, got, want)
		}
	}
	it, err := snap.NewCFIterator("", IterOptions{})
	must(t, err)
	got := collect(t, it, nil)
	it.Close()
	if want := []string{kv([]byte("a"), "1"), kv([]byte("b"), "1")}; !slices.Equal(got, want) {
		t.Errorf("snapshot scan %v, want %v", got, want)
	}
	// The live view sees the new writes.
	if got := scan(t, e, CFDefault, IterOptions{}, nil); len(got) != 2 || got[1] != kv([]byte("c"), "2") {
		t.Errorf("live scan %v", got)
	}
	if _, err := snap.NewCFIterator("bogus", IterOptions{}); !errors.Is(err, ErrUnknownCF) {
		t.Errorf("snapshot iterator on bad cf: %v", err)
	}
}

func TestSnapshotCloseClosesIterators(t *testing.T) {
	e := openTest(t, testOptions())
	mustPut(t, e, CFDefault, []byte("a"), []byte("1"))
	snap, err := e.NewSnapshot()
	must(t, err)
	it, err := snap.NewCFIterator(CFDefault, IterOptions{})
	must(t, err)
	it.Rewind()
	if !it.Valid() {
		t.Fatal("iterator not valid")
	}
	snap.Close() // with the iterator open: badger itself would panic here
	if it.Valid() || !errors.Is(it.Err(), ErrClosed) {
		t.Fatal("iterator still valid after its snapshot closed")
	}
	it.Close()
	snap.Close()
	if _, err := snap.NewCFIterator(CFDefault, IterOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewCFIterator on closed snapshot: %v", err)
	}
	var m plainUnmarshaler
	if _, err := snap.GetMeta(StoreIdentKey(), &m); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetMeta on closed snapshot: %v", err)
	}
	// An untracked snapshot works the same way.
	raw := NewSnapshot(e.Raft)
	if v, err := raw.GetCF(CFDefault, []byte("a")); err != nil || v != nil {
		t.Fatalf("raft snapshot read %q %v", v, err)
	}
	raw.Close()
}

type plainUnmarshaler struct{ data []byte }

func (p *plainUnmarshaler) Unmarshal(b []byte) error { p.data = b; return nil }

// TestCloseDuringScans closes the engines while readers scan: the readers
// must stop with ErrClosed, never crash or race (run with -race).
func TestCloseDuringScans(t *testing.T) {
	e, err := Open(t.TempDir(), testOptions())
	must(t, err)
	var wb WriteBatch
	for i := range 500 {
		must(t, wb.PutCF(CFDefault, []byte{byte(i >> 8), byte(i)}, []byte("v")))
	}
	must(t, wb.WriteToDB(e.KV, false))

	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				snap, err := e.NewSnapshot()
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("NewSnapshot: %v", err)
					}
					return
				}
				it, err := snap.NewCFIterator(CFDefault, IterOptions{Reverse: n%2 == 0})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("NewCFIterator: %v", err)
					}
					snap.Close()
					return
				}
				if n == 0 {
					started <- struct{}{}
				}
				for it.Rewind(); it.Valid(); it.Next() {
					_ = it.Key()
					if _, err := it.Value(); err != nil && !errors.Is(err, ErrIteratorInvalid) {
						t.Errorf("Value: %v", err)
					}
				}
				if err := it.Err(); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("iterator: %v", err)
				}
				it.Close()
				if _, err := snap.GetCF(CFDefault, []byte{0, 1}); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("GetCF: %v", err)
				}
				snap.Close()
			}
		}()
	}
	<-started
	<-started
	must(t, e.Close())
	wg.Wait()
}

// TestSnapshotScanInternal: a scan sees exactly the internal keys under its
// prefix, in order, as of the snapshot, and refuses a prefix outside the
// internal key space.
func TestSnapshotScanInternal(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	for _, id := range []uint64{7, 3, 12} {
		must(t, wb.Set(RegionStateKey(id), []byte{byte(id)}))
	}
	must(t, wb.Set(ApplyStateKey(3), []byte("apply")))
	must(t, wb.PutCF(CFDefault, []byte("a"), []byte("1")))
	must(t, wb.WriteToDB(e.KV, true))
	snap, err := e.NewSnapshot()
	must(t, err)
	defer snap.Close()
	wb.Reset()
	must(t, wb.Set(RegionStateKey(5), []byte{5})) // after the snapshot
	must(t, wb.WriteToDB(e.KV, true))

	var ids []uint64
	var vals []byte
	must(t, snap.ScanInternal(RegionMetaPrefix(), func(k, v []byte) error {
		id, err := DecodeRegionStateKey(k)
		ids, vals = append(ids, id), append(vals, v...)
		return err
	}))
	if !slices.Equal(ids, []uint64{3, 7, 12}) || !slices.Equal(vals, []byte{3, 7, 12}) {
		t.Errorf("scan found regions %v with values %v, want [3 7 12] in order", ids, vals)
	}
	stop := errors.New("stop")
	n := 0
	if err := snap.ScanInternal(RegionMetaPrefix(), func(_, _ []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("scan returned %v after %d calls, want fn's error after 1", err, n)
	}
	if err := snap.ScanInternal([]byte("z"), func(_, _ []byte) error { return nil }); !errors.Is(err, ErrNotInternalKey) {
		t.Errorf("scan of a data prefix: %v, want ErrNotInternalKey", err)
	}
	snap.Close()
	if err := snap.ScanInternal(RegionMetaPrefix(), func(_, _ []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("scan of a closed snapshot: %v, want ErrClosed", err)
	}
}
