package engine

import "testing"

// TestOnKVDurable checks the hook fires exactly at the kv DB's durable
// points: SyncKV and synced WriteKV, not unsynced writes or raft writes.
func TestOnKVDurable(t *testing.T) {
	var calls int
	e, err := Open(t.TempDir(), Options{MemTableSize: minMemTableSize, OnKVDurable: func() { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	wb := NewWriteBatch()
	if err := wb.PutCF("", []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"unsynced kv write", func() error { return e.WriteKV(wb, false) }, 0},
		{"raft write", func() error { return e.WriteRaft(wb, true) }, 0},
		{"synced kv write", func() error { return e.WriteKV(wb, true) }, 1},
		{"sync kv", e.SyncKV, 2},
		{"sync raft", e.SyncRaft, 2},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if calls != s.want {
			t.Fatalf("after %s: hook called %d times, want %d", s.name, calls, s.want)
		}
	}
}
