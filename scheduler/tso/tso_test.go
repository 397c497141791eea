package tso

import (
	"context"
	"errors"
	"testing"
	"time"
)

type memWindow struct {
	v     uint64
	saves int
	fail  bool
}

func (w *memWindow) Load(context.Context) (uint64, error) { return w.v, nil }
func (w *memWindow) Save(_ context.Context, v uint64) error {
	if w.fail {
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
