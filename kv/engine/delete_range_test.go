package engine

import (
	"fmt"
	"testing"
)

func TestDeleteRange(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	// 3000 keys per CF: more than one chunk (1024 keys).
	for i := range 3000 {
		for _, cf := range CFs {
			must(t, wb.PutCF(cf, fmt.Appendf(nil, "k%05d", i), []byte(cf)))
		}
		if wb.Len() > 900 {
			must(t, wb.WriteToDB(e.KV, false))
			wb.Reset()
		}
	}
	must(t, wb.PutCF(CFDefault, []byte{0xFF, 0xFF}, []byte("ff")))
	must(t, wb.Set(StoreIdentKey(), []byte("ident")))
	must(t, wb.Set(RegionStateKey(1), []byte("region")))
	must(t, wb.WriteToDB(e.KV, false))

	// [k00100, k02900) in every CF.
	must(t, DeleteRange(e.KV, []byte("k00100"), []byte("k02900")))
	for _, cf := range CFs {
		got := scan(t, e, cf, IterOptions{}, nil)
		if cf == CFDefault {
			got = got[:len(got)-1] // the 0xFF key
		}
		if len(got) != 200 || got[99] != kv([]byte("k00099"), cf) || got[100] != kv([]byte("k02900"), cf) {
			t.Fatalf("cf %s after DeleteRange: %d keys, around the hole %v", cf, len(got), got[98:102])
		}
	}
	// One CF, unbounded end: reaches the 0xFF key too, leaves other CFs.
	must(t, DeleteRangeCF(e.KV, CFDefault, []byte("k02950"), nil))
	if got := scan(t, e, CFDefault, IterOptions{}, nil); len(got) != 150 {
		t.Fatalf("default after DeleteRangeCF to the end: %d keys", len(got))
	}
	if got := scan(t, e, CFWrite, IterOptions{}, nil); len(got) != 200 {
		t.Fatalf("write touched by DeleteRangeCF(default): %d keys", len(got))
	}
	// Unbounded both sides: the whole CF, internal keys untouched.
	must(t, DeleteRange(e.KV, nil, nil))
	for _, cf := range CFs {
		if got := scan(t, e, cf, IterOptions{}, nil); len(got) != 0 {
			t.Fatalf("cf %s not empty: %d keys", cf, len(got))
		}
	}
	for _, k := range [][]byte{StoreIdentKey(), RegionStateKey(1)} {
		if v, _ := GetRaw(e.KV, k); v == nil {
			t.Fatalf("internal key %x deleted by DeleteRange", k)
		}
	}
	// Empty and inverted ranges are no-ops; bad CF is an error.
	must(t, DeleteRangeCF(e.KV, CFDefault, []byte("b"), []byte("a")))
	if err := DeleteRangeCF(e.KV, "bogus", nil, nil); err == nil {
		t.Fatal("DeleteRangeCF(bogus) succeeded")
	}
}

func TestDeleteInternalRange(t *testing.T) {
	e := openTest(t, testOptions())
	var wb WriteBatch
	for _, region := range []uint64{1, 2} {
		for idx := uint64(1); idx <= 2000; idx++ {
			must(t, wb.Set(RaftLogKey(region, idx), []byte("entry")))
		}
		must(t, wb.Set(RaftStateKey(region), []byte("hs")))
	}
	must(t, wb.WriteToDB(e.Raft, false))

	// Log GC of region 1 below index 1500.
	must(t, DeleteInternalRange(e.Raft, RaftLogKey(1, 0), RaftLogKey(1, 1500)))
	for idx, want := range map[uint64]bool{1: false, 1499: false, 1500: true, 2000: true} {
		if v, _ := GetRaw(e.Raft, RaftLogKey(1, idx)); (v != nil) != want {
			t.Errorf("region 1 entry %d present=%v, want %v", idx, v != nil, want)
		}
	}
	// Destroy region 1's Raft state entirely; region 2 untouched.
	must(t, DeleteInternalRange(e.Raft, RegionRaftPrefix(1), RegionRaftPrefix(2)))
	if v, _ := GetRaw(e.Raft, RaftStateKey(1)); v != nil {
		t.Error("region 1 hard state survived")
	}
	if v, _ := GetRaw(e.Raft, RaftLogKey(2, 1)); v == nil {
		t.Error("region 2 log deleted")
	}
	if v, _ := GetRaw(e.Raft, RaftStateKey(2)); v == nil {
		t.Error("region 2 hard state deleted")
	}
	dk, _ := DataKey(CFDefault, []byte("a"))
	if err := DeleteInternalRange(e.Raft, dk, RaftLogKey(1, 1)); err == nil {
		t.Error("DeleteInternalRange accepted a data key")
	}
}
