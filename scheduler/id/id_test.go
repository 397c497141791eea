package id

import (
	"context"
	"testing"
)

type memWindow struct{ v uint64 }

func (w *memWindow) Load(context.Context) (uint64, error)   { return w.v, nil }
func (w *memWindow) Save(_ context.Context, v uint64) error { w.v = v; return nil }

func TestAllocatorPersistsAhead(t *testing.T) {
	ctx := context.Background()
	w := &memWindow{}
	a := New(w, 10)
	seen := map[uint64]bool{}
	for range 25 {
		id, err := a.Alloc(ctx, 1)
		if err != nil || seen[id] || id == 0 {
			t.Fatalf("id %d err %v", id, err)
		}
		seen[id] = true
		if id > w.v {
			t.Fatalf("id %d handed out beyond the saved window %d", id, w.v)
		}
	}
	first, err := a.Alloc(ctx, 50)
	if err != nil || first != 26 || w.v < 75 {
		t.Fatalf("batch: first %d window %d err %v", first, w.v, err)
	}
	// A new leader continues after the saved window, never repeating.
	b := New(w, 10)
	id, err := b.Alloc(ctx, 1)
	if err != nil || id <= 75 {
		t.Fatalf("after leader change: %d %v", id, err)
	}
	if _, err := b.Alloc(ctx, 0); err == nil {
		t.Fatal("zero count accepted")
	}
}
