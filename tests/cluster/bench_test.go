package cluster

import (
	"context"
	"fmt"
	"github.com/regionkv/regionkv/raftstore"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkPut3Stores: 3 stores in one process, 16 concurrent clients
// putting 128-byte values. Reports throughput, p50/p99 latency, and raft-DB
// write batches (syncs) per second next to writes per second.
func BenchmarkPut3Stores(b *testing.B) {
	c := New(b, Options{Stores: 3, Seed: 7, Tweak: func(cfg *raftstore.Config) {
		cfg.RaftLogGCCountLimit = 10000
	}})
	ctx := context.Background()
	if _, err := c.Leader(10 * time.Second); err != nil {
		b.Fatal(err)
	}
	value := string(make([]byte, 128))
	const clients = 16
	var mu sync.Mutex
	var lat []time.Duration
	syncs0 := c.totalRaftWrites()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + clients - 1) / clients
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.NewClient(uint64(i))
			mine := make([]time.Duration, 0, per)
			for j := 0; j < per; j++ {
				t0 := time.Now()
				if cl.Put(ctx, fmt.Sprintf("bench-%d-%d", i, j), value) != OK {
					b.Error("put failed")
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	syncs := c.totalRaftWrites() - syncs0
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/el.Seconds(), "writes/s")
	b.ReportMetric(float64(syncs)/el.Seconds(), "raft-syncs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

func (c *Cluster) totalRaftWrites() int64 {
	var n int64
	for _, nd := range c.Nodes {
		if c.Up(nd.ID) {
			n += nd.Store.Metrics().RaftDBWrites()
		}
	}
	return n
}
