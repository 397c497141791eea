package raftstore

import (
	"fmt"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
)

// TestWriteRoundsMerges: rounds queued together share one raft-DB write,
// applied in queue order; rounds that would overflow one transaction are
// split into several writes, and every write lands.
func TestWriteRoundsMerges(t *testing.T) {
	e := testEngines(t, nil)
	s := testStore(t, e)
	key := func(i int) []byte { return []byte(fmt.Sprintf("\x01test-%04d", i)) }
	small := func(vals ...string) *round {
		r := &round{}
		for i, v := range vals {
			if err := r.wb.Set(key(i), []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	rounds := []*round{small("a0", "a1"), small("b0"), small("c0", "c1", "c2")}
	before := s.metrics.raftWrites.Load()
	if !s.writeRounds(rounds) {
		t.Fatal("writeRounds reported a crash")
	}
	if n := s.metrics.raftWrites.Load() - before; n != 1 {
		t.Fatalf("3 small rounds took %d writes, want 1", n)
	}
	// Later rounds win, as if written one after another.
	for i, want := range []string{"c0", "c1", "c2"} {
		got, err := engine.GetRaw(e.Raft, key(i))
		if err != nil || string(got) != want {
			t.Fatalf("key %d = %q, %v; want %q", i, got, err, want)
		}
	}

	// Rounds each over half a transaction are written one by one.
	limit := s.engines.BatchLimit(engine.DBRaft)
	big := func(tag string) *round {
		r := &round{}
		v := make([]byte, 64<<10)
		for i := 0; int64(r.wb.Size()) <= limit.Bytes*2/3; i++ {
			if err := r.wb.Set([]byte(fmt.Sprintf("\x01big-%s-%06d", tag, i)), v); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	rounds = []*round{big("x"), big("y"), small("z0")}
	before = s.metrics.raftWrites.Load()
	if !s.writeRounds(rounds) {
		t.Fatal("writeRounds reported a crash")
	}
	if n := s.metrics.raftWrites.Load() - before; n != 2 {
		t.Fatalf("two large rounds and a small one took %d writes, want 2 (the small one joins the second)", n)
	}
	for _, k := range [][]byte{[]byte("\x01big-x-000000"), []byte("\x01big-y-000000"), key(0)} {
		if v, err := engine.GetRaw(e.Raft, k); err != nil || v == nil {
			t.Fatalf("key %q missing after the split write: %v", k, err)
		}
	}
}

// TestRaftWriterStops: take hands out everything queued, and returns nil
// only once every worker exited and the queue is empty.
func TestRaftWriterStops(t *testing.T) {
	w := newRaftWriter(2)
	r1, r2 := w.newRound(), w.newRound()
	w.submit(r1)
	w.submit(r2)
	w.workerExited()
	w.workerExited()
	if got := w.take(nil); len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("take = %v, want both rounds in order", got)
	}
	if got := w.take(nil); got != nil {
		t.Fatalf("take after the workers exited = %v, want nil", got)
	}
	w.freeRound(r1)
	if w.newRound() != r1 {
		t.Fatal("a freed round is not reused")
	}
}
