package engine

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkWriteBatch commits batches of 100-byte values to the kv DB with the
// default (production) sizes. Modes:
//
//	unsynced    SyncWrites off, WriteToDB(sync=false): survives kill -9 only
//	syncwrites  DB opened with SyncWrites: badger msyncs the WAL per commit
//	barrier     SyncWrites off, WriteToDB(sync=true): commit, then SyncDB
func BenchmarkWriteBatch(b *testing.B) {
	for _, mode := range []string{"unsynced", "syncwrites", "barrier"} {
		for _, size := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, size), func(b *testing.B) {
				opts := Options{SyncKVWrites: mode == "syncwrites"}
				e, err := Open(b.TempDir(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				value := make([]byte, 100)
				var wb WriteBatch
				key := make([]byte, 0, 16)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					wb.Reset()
					for j := range size {
						key = fmt.Appendf(key[:0], "key-%012d", i*size+j)
						if err := wb.PutCF(CFDefault, key, value); err != nil {
							b.Fatal(err)
						}
					}
					if err := wb.WriteToDB(e.KV, mode == "barrier"); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkGetCF reads random existing keys of 100k with GetCF (one read
// transaction each), from the memtable and, after a reopen, from tables.
func BenchmarkGetCF(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	e, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	var wb WriteBatch
	for i := range n {
		if err := wb.PutCF(CFDefault, fmt.Appendf(nil, "key-%012d", i), value); err != nil {
			b.Fatal(err)
		}
		if wb.Len() == 1000 {
			if err := wb.WriteToDB(e.KV, false); err != nil {
				b.Fatal(err)
			}
			wb.Reset()
		}
	}
	run := func(b *testing.B) {
		r := rand.New(rand.NewSource(1))
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "key-%012d", r.Intn(n))
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, err := GetCF(e.KV, CFDefault, keys[i%len(keys)])
			if err != nil || v == nil {
				b.Fatal("missing key", err)
			}
		}
	}
	b.Run("memtable", run)
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	if e, err = Open(dir, Options{}); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.Run("tables", run)
	// Through one open snapshot: no transaction per read. Badger's
	// transaction start/finish (oracle watermarks) is most of a point read.
	b.Run("tables-snapshot", func(b *testing.B) {
		snap, err := e.NewSnapshot()
		if err != nil {
			b.Fatal(err)
		}
		defer snap.Close()
		key := fmt.Appendf(nil, "key-%012d", n/2)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if v, err := snap.GetCF(CFDefault, key); err != nil || v == nil {
				b.Fatal("missing key", err)
			}
		}
	})
}
