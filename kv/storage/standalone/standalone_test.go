package standalone

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage"
)

func TestMain(m *testing.M) {
	// Only goroutines running before any test (glog's flush daemon, from a
	// dependency's init) are ignored; badger's must all stop on Stop.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

func light() Option {
	return WithEngineOptions(engine.Options{MemTableSize: 4 << 20, BlockCacheSize: 4 << 20})
}

func newTest(t *testing.T) *StandaloneStorage {
	t.Helper()
	s, err := NewStandaloneStorage(t.TempDir(), light())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func get(t *testing.T, s storage.Storage, cf, key string) []byte {
	t.Helper()
	r, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, err := r.GetCF(cf, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func write(t *testing.T, s storage.Storage, batch ...storage.Modify) {
	t.Helper()
	if err := s.Write(context.Background(), nil, batch); err != nil {
		t.Fatal(err)
	}
}

func keysOf(t *testing.T, r storage.StorageReader, cf string, opts engine.IterOptions) []string {
	t.Helper()
	it := r.IterCF(cf, opts)
	defer it.Close()
	var out []string
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(it.Key())+"="+string(v))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteAndRead(t *testing.T) {
	s := newTest(t)
	if !s.Engines().KV.Opts().SyncWrites {
		t.Fatal("standalone kv DB does not sync writes")
	}
	write(t, s,
		storage.NewPut("", []byte("a"), []byte("1")),
		storage.NewPut(engine.CFWrite, []byte("a"), []byte("w")),
		storage.NewPut(engine.CFDefault, []byte("b"), []byte("2")),
		storage.NewPut(engine.CFDefault, []byte("c"), []byte("3")),
		storage.NewDelete(engine.CFDefault, []byte("c")),
		storage.NewPut(engine.CFLock, []byte("e"), nil),
	)
	for _, c := range []struct{ cf, key, want string }{
		{engine.CFDefault, "a", "1"}, {engine.CFWrite, "a", "w"}, {engine.CFLock, "a", ""},
		{"", "b", "2"}, {engine.CFDefault, "c", ""},
	} {
		got := get(t, s, c.cf, c.key)
		if string(got) != c.want || (c.want == "" && got != nil) {
			t.Errorf("%s/%s = %q, want %q", c.cf, c.key, got, c.want)
		}
	}
	if got := get(t, s, engine.CFLock, "e"); got == nil {
		t.Error("a present empty value reads as missing")
	}

	r, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := keysOf(t, r, engine.CFDefault, engine.IterOptions{}); fmt.Sprint(got) != "[a=1 b=2]" {
		t.Errorf("scan default: %v", got)
	}
	if got := keysOf(t, r, engine.CFDefault, engine.IterOptions{Reverse: true, UpperBound: []byte("b")}); fmt.Sprint(got) != "[a=1]" {
		t.Errorf("reverse scan below b: %v", got)
	}
}

func TestBadModifyWritesNothing(t *testing.T) {
	s := newTest(t)
	for _, bad := range []storage.Modify{
		storage.NewPut("bogus", []byte("k"), nil),
		storage.NewDelete("bogus", []byte("k")),
		storage.NewDeleteRange("bogus", nil, nil),
		storage.NewPut(engine.CFDefault, nil, []byte("v")),
		nil,
	} {
		err := s.Write(context.Background(), nil, []storage.Modify{
			storage.NewPut(engine.CFDefault, []byte("first"), []byte("v")), bad,
		})
		if err == nil {
			t.Fatalf("Write with %#v succeeded", bad)
		}
		if bad != nil && !errors.Is(err, engine.ErrUnknownCF) && !errors.Is(err, engine.ErrEmptyKey) {
			t.Errorf("Write with %#v: %v, want ErrUnknownCF or ErrEmptyKey", bad, err)
		}
		if got := get(t, s, engine.CFDefault, "first"); got != nil {
			t.Fatalf("invalid batch partly written")
		}
	}
	r, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.GetCF("bogus", []byte("k")); !errors.Is(err, engine.ErrUnknownCF) {
		t.Errorf("GetCF(bogus) = %v", err)
	}
	it := r.IterCF("bogus", engine.IterOptions{})
	it.Rewind()
	if it.Valid() || !errors.Is(it.Err(), engine.ErrUnknownCF) {
		t.Errorf("IterCF(bogus): valid=%v err=%v", it.Valid(), it.Err())
	}
	it.Close()
}

func TestDeleteRangeInBatchAppliesInOrder(t *testing.T) {
	s := newTest(t)
	write(t, s,
		storage.NewPut("", []byte("a"), []byte("1")),
		storage.NewPut("", []byte("b"), []byte("1")),
		storage.NewPut(engine.CFWrite, []byte("b"), []byte("1")),
	)
	write(t, s,
		storage.NewPut("", []byte("c"), []byte("2")),         // before: deleted by the range
		storage.NewDeleteRange("", []byte("b"), nil),         // default CF only
		storage.NewPut("", []byte("d"), []byte("2")),         // after: survives
		storage.NewDeleteRange("", []byte("x"), []byte("y")), // empty: no-op
	)
	r, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := keysOf(t, r, "", engine.IterOptions{}); fmt.Sprint(got) != "[a=1 d=2]" {
		t.Errorf("default after batch: %v", got)
	}
	if got := keysOf(t, r, engine.CFWrite, engine.IterOptions{}); fmt.Sprint(got) != "[b=1]" {
		t.Errorf("write CF touched by a default-CF DeleteRange: %v", got)
	}
}

func TestReaderIsolation(t *testing.T) {
	s := newTest(t)
	write(t, s, storage.NewPut("", []byte("k"), []byte("old")))
	r, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	write(t, s, storage.NewPut("", []byte("k"), []byte("new")), storage.NewPut("", []byte("k2"), []byte("x")))
	if v, _ := r.GetCF("", []byte("k")); string(v) != "old" {
		t.Errorf("reader sees a later write: %q", v)
	}
	if got := keysOf(t, r, "", engine.IterOptions{}); fmt.Sprint(got) != "[k=old]" {
		t.Errorf("reader scan: %v", got)
	}
	if got := get(t, s, "", "k"); string(got) != "new" {
		t.Errorf("new reader: %q", got)
	}
}

func TestStopAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStandaloneStorage(dir, light())
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, storage.NewPut("", []byte("k"), []byte("v")))
	if _, err := NewStandaloneStorage(dir, light()); !errors.Is(err, engine.ErrDataDirLocked) {
		t.Fatalf("second storage on the dir: %v, want ErrDataDirLocked", err)
	}
	open, err := s.Reader(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	// A reader left open across Stop fails cleanly.
	if _, err := open.GetCF("", []byte("k")); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("reader after Stop: %v", err)
	}
	open.Close()
	if err := s.Write(context.Background(), nil, nil); !errors.Is(err, storage.ErrStopped) {
		t.Errorf("Write after Stop: %v", err)
	}
	if _, err := s.Reader(context.Background(), nil); !errors.Is(err, storage.ErrStopped) {
		t.Errorf("Reader after Stop: %v", err)
	}
	if err := s.Start(); !errors.Is(err, storage.ErrStopped) {
		t.Errorf("Start after Stop: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	s2, err := NewStandaloneStorage(dir, light())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if got := get(t, s2, "", "k"); string(got) != "v" {
		t.Fatalf("after reopen: %q", got)
	}
}

func TestCanceledContext(t *testing.T) {
	s := newTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, nil, []storage.Modify{storage.NewPut("", []byte("k"), nil)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write: %v", err)
	}
	if _, err := s.Reader(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Reader: %v", err)
	}
	if got := get(t, s, "", "k"); got != nil {
		t.Error("canceled write applied")
	}
}
