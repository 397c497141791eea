package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/proto/common/datadir"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func TestOpenLayout(t *testing.T) {
	e := openTest(t, testOptions())
	for _, name := range []string{RaftDirName, KVDirName, datadir.LockFileName} {
		if _, err := os.Stat(filepath.Join(e.Dir(), name)); err != nil {
			t.Errorf("data dir lacks %s: %v", name, err)
		}
	}
}

func TestSecondOpenFailsUntilClose(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, testOptions())
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Open: %v, want ErrDataDirLocked", err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.HasPrefix(err.Error(), "engine: ") {
		t.Errorf("error %q should start with engine: and name the dir", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	e2, err := Open(dir, testOptions())
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{{MemTableSize: 1000}, {BlockCacheSize: -1}} {
		if _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var wb WriteBatch
	for _, cf := range CFs {
		if err := wb.PutCF(cf, []byte("k"), []byte("v-"+cf)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.DeleteCF(CFLock, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := wb.WriteToDB(e.KV, false); err != nil {
		t.Fatal(err)
	}
	var raftWB WriteBatch
	entry := &eraftpb.Entry{Term: 3, Index: 9, Data: []byte("cmd")}
	if err := raftWB.SetMeta(RaftLogKey(1, 9), entry); err != nil {
		t.Fatal(err)
	}
	if err := raftWB.WriteToDB(e.Raft, true); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for cf, want := range map[string]string{CFDefault: "v-default", CFLock: "", CFWrite: "v-write"} {
		got := mustGet(t, e, cf, []byte("k"))
		if (want == "" && got != nil) || (want != "" && string(got) != want) {
			t.Errorf("after reopen, %s/k = %q, want %q", cf, got, want)
		}
	}
	var got eraftpb.Entry
	found, err := GetMeta(e.Raft, RaftLogKey(1, 9), &got)
	if err != nil || !found || got.Term != 3 || got.Index != 9 || string(got.Data) != "cmd" {
		t.Fatalf("raft entry after reopen: %+v found=%v err=%v", got, found, err)
	}
	// The raft and kv DBs are separate: the entry is not in the kv DB.
	if v, err := GetRaw(e.KV, RaftLogKey(1, 9)); err != nil || v != nil {
		t.Fatalf("raft entry visible in the kv DB: %q %v", v, err)
	}
}

func TestClosedEngines(t *testing.T) {
	e, err := Open(t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	it, err := snap.NewCFIterator(CFDefault, IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Close with a snapshot and an iterator still open: both are closed
	// first, later use reports ErrClosed instead of crashing.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	it.Rewind()
	if it.Valid() || !errors.Is(it.Err(), ErrClosed) {
		t.Errorf("iterator after Close: valid=%v err=%v", it.Valid(), it.Err())
	}
	it.Close()
	if _, err := snap.GetCF(CFDefault, []byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("snapshot GetCF after Close: %v", err)
	}
	if _, err := e.NewSnapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSnapshot after Close: %v", err)
	}
}

// TestSizes: the sizes of both databases are measured from their files,
// and grow when data is written and flushed.
func TestSizes(t *testing.T) {
	e := openTest(t, testOptions())
	before, err := e.Sizes()
	if err != nil || len(before) != 2 || before[0].DB != RaftDirName || before[1].DB != KVDirName {
		t.Fatalf("Sizes = %+v, %v", before, err)
	}
	for b := 0; b < 8; b++ {
		var wb WriteBatch
		for i := 0; i < 256; i++ {
			if err := wb.PutCF(CFDefault, fmt.Appendf(nil, "key-%d-%05d", b, i), bytes.Repeat([]byte{byte(i)}, 1024)); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.WriteKV(&wb, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.KV.Flatten(1); err != nil {
		t.Fatal(err)
	}
	after, err := e.Sizes()
	if err != nil {
		t.Fatal(err)
	}
	total := func(s DBSize) int64 { return s.LSM + s.VLog + s.Others }
	if total(after[1]) <= total(before[1]) || total(after[1]) < 1<<20 {
		t.Fatalf("kv DB size went from %+v to %+v after writing 2 MiB", before[1], after[1])
	}
}
