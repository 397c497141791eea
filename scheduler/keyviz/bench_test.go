package keyviz

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

const benchRegions = 10_000

// benchBounds are the bounds of benchRegions regions with 16-byte keys
// (about the length of a table's row keys).
func benchBounds() [][]byte {
	out := make([][]byte, benchRegions+1)
	for i := 1; i < benchRegions; i++ {
		out[i] = fmt.Appendf(nil, "user%012d", i*1000)
	}
	return out
}

// fill gives h one column a minute for its whole retention and ten minutes
// more, every region heartbeating once a minute, a few of them hot.
func fill(h *History, c *clock, bounds [][]byte) {
	cols := int(h.cfg.Retention/h.cfg.ColumnWidth) + 10
	for col := range cols {
		for i := range benchRegions {
			v := uint64(1 + i%7)
			if i/100 == col%benchRegions/100 {
				v = 1 << 20
			}
			h.Observe(uint64(i+1), 1, bounds[i], bounds[i+1], NewStats(v, v/2, v/64, v/128))
		}
		c.advance(h.cfg.ColumnWidth)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHistoryMemory fills a default history (one column a minute for
// six hours, 1024 rows a column, 64 MiB) with 10,000 regions heartbeating
// every minute, and reports what it holds: the bytes its closed columns
// account for, the bytes of the open column, and the heap it really takes
// (measured after a GC). It fails if the accounted size passes the bound.
//
//	go test -run '^$' -bench HistoryMemory -benchtime 1x ./scheduler/keyviz/
func BenchmarkHistoryMemory(b *testing.B) {
	bounds := benchBounds()
	for range b.N {
		c := newClock()
		before := heapInUse()
		h, err := New(DefaultConfig(), c.now)
		if err != nil {
			b.Fatal(err)
		}
		fill(h, c, bounds)
		// One more minute of heartbeats, so the open column is full too.
		for i := range benchRegions {
			h.Observe(uint64(i+1), 1, bounds[i], bounds[i+1], NewStats(1, 1, 1, 1))
		}
		heap := heapInUse() - before
		u := h.Usage()
		if u.ClosedBytes > h.cfg.MaxBytes {
			b.Fatalf("closed columns account for %d bytes, bound %d", u.ClosedBytes, h.cfg.MaxBytes)
		}
		b.ReportMetric(float64(u.ClosedBytes)/(1<<20), "closed-MiB")
		b.ReportMetric(float64(u.OpenBytes)/(1<<20), "open-MiB")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(u.Columns), "columns")
		runtime.KeepAlive(h)
	}
}

// BenchmarkObserve is the cost of one heartbeat in a history of 10,000
// regions.
func BenchmarkObserve(b *testing.B) {
	bounds := benchBounds()
	c := newClock()
	h, err := New(DefaultConfig(), c.now)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		r := i % benchRegions
		if r == 0 && i > 0 {
			c.advance(time.Minute)
		}
		h.Observe(uint64(r+1), 1, bounds[r], bounds[r+1], NewStats(100, 10, 1, 1))
	}
}

// BenchmarkQuery6h is the cost of the dashboard's widest query: six hours
// of 10,000 regions on 256 rows.
func BenchmarkQuery6h(b *testing.B) {
	c := newClock()
	h, err := New(DefaultConfig(), c.now)
	if err != nil {
		b.Fatal(err)
	}
	fill(h, c, benchBounds())
	b.ResetTimer()
	for range b.N {
		m, err := h.Query(Query{Metric: WrittenBytes})
		if err != nil || len(m.Keys) != DefaultQueryRows+1 {
			b.Fatalf("query: %v", err)
		}
	}
}
