package tso

import (
	"context"
	"errors"
	"testing"
	"time"
)

type memWindow struct {
	v        uint64
	saves    int
	fail     bool
	failNext int // fail this many saves, then succeed
}

func (w *memWindow) Load(context.Context) (uint64, error) { return w.v, nil }
func (w *memWindow) Save(ctx context.Context, v uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.fail || w.failNext > 0 {
		w.failNext--
		return errors.New("save failed")
	}
	w.v = v
	w.saves++
	return nil
}

func TestOracle(t *testing.T) {
	ctx := context.Background()
	clock := time.UnixMilli(1_000_000)
	now := func() time.Time { return clock }
	w := &memWindow{}
	o := New(w, 3*time.Second, now)
	if _, err := o.Get(ctx, 1); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("before sync: %v", err)
	}
	if err := o.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if w.v != 1_003_000 {
		t.Fatalf("saved bound %d", w.v)
	}
	var last uint64
	check := func(count uint32) {
		t.Helper()
		ts, err := o.Get(ctx, count)
		if err != nil {
			t.Fatal(err)
		}
		if c := Compose(ts); c <= last {
			t.Fatalf("not increasing: %d after %d", c, last)
		} else {
			last = c
		}
		if uint64(ts.Physical) >= w.v {
			t.Fatalf("physical %d at or past the saved bound %d", ts.Physical, w.v)
		}
	}
	check(1)
	// Exhausting the logical counter borrows the next millisecond.
	check(1<<18 - 1)
	check(10)
	// The clock going backwards changes nothing.
	clock = clock.Add(-time.Second)
	if err := o.Update(ctx); err != nil {
		t.Fatal(err)
	}
	check(1)
	// Close to the bound, Update extends it.
	clock = time.UnixMilli(1_002_500)
	if err := o.Update(ctx); err != nil {
		t.Fatal(err)
	}
	if w.v <= 1_002_500+1000 {
		t.Fatalf("window not extended: %d", w.v)
	}
	check(1)
	// A new leader (new oracle over the same window) starts after the bound
	// even if its clock is behind.
	clock = time.UnixMilli(5)
	o2 := New(w, 3*time.Second, now)
	if err := o2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	o = o2
	check(1)
	if _, err := o.Get(ctx, 0); !errors.Is(err, ErrBadCount) {
		t.Fatalf("count 0: %v", err)
	}
	w.fail = true
	clock = time.UnixMilli(2_000_000)
	if err := o.Update(ctx); err == nil {
		t.Fatal("update past the bound without saving succeeded")
	}
}

// TestOracleRecoversFromFailedSave: one failed save of the window (an etcd
// timeout, or the client closing its stream while its Get extended the
// window) fails that request only; the next one saves again and is served.
func TestOracleRecoversFromFailedSave(t *testing.T) {
	clock := time.UnixMilli(1_000_000)
	now := func() time.Time { return clock }
	w := &memWindow{}
	o := New(w, 3*time.Second, now)
	if err := o.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, err := o.Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The clock passes the saved bound: moving to it must save, and that
	// save fails once.
	clock = time.UnixMilli(int64(w.v) + 10)
	w.failNext = 1
	if err := o.Update(context.Background()); err == nil {
		t.Fatal("Update past the bound succeeded although its save failed")
	}
	ts, err := o.Get(context.Background(), 1<<18-1)
	if err != nil {
		t.Fatalf("Get after one failed save: %v", err)
	}
	if Compose(ts) <= Compose(first) || uint64(ts.Physical) >= w.v {
		t.Fatalf("timestamp %v after %v, saved bound %d", ts, first, w.v)
	}
	// A Get whose caller went away while it saved fails alone.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		if _, err := o.Get(ctx, 1<<18-1); err != nil {
			break // reached a save with a canceled context
		}
	}
	if _, err := o.Get(context.Background(), 1); err != nil {
		t.Fatalf("Get after a canceled caller's save: %v", err)
	}
	if err := o.Update(context.Background()); err != nil {
		t.Fatalf("Update after failed saves: %v", err)
	}
}
