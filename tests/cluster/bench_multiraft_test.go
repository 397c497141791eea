package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

// presplit splits the first region into n regions at keys "k%06d" spread
// over [0, 1e6), in one BatchSplit, and waits until each has a leader.
func presplit(b *testing.B, c *Cluster, n int) {
	b.Helper()
	if n <= 1 {
		return
	}
	var keys [][]byte
	for i := 1; i < n; i++ {
		keys = append(keys, []byte(fmt.Sprintf("k%06d", i*1000000/n)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	// At most 1000 keys per BatchSplit: split the rightmost region again.
	last := uint64(FirstRegionID)
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 1000)]
		keys = keys[len(chunk):]
		err := c.onLeader(ctx, last, func(s *raftstore.Store) error {
			rs, err := s.SplitRegion(ctx, last, chunk)
			if err == nil {
				last = rs[len(rs)-1].Id
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		leaders := 0
		for _, id := range c.StoreIDs() {
			leaders += c.store(id).LeaderCount()
		}
		if leaders == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d regions have leaders", leaders, n)
		}
		time.Sleep(100 * time.Millisecond) // polling raft state
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdle10kRegions: 10,000 regions on 3 stores in one process.
// Reports the CPU the idle stores use (CPU time over a 5 s window once
// every region hibernates) and the heap per region after GC. With
// REGIONKV_NO_HIBERNATE=1 the regions keep ticking, for comparison.
func BenchmarkIdle10kRegions(b *testing.B) {
	const regions = 10000
	noHib := os.Getenv("REGIONKV_NO_HIBERNATE") != ""
	c := New(b, Options{Stores: 3, Seed: 9, Tweak: func(cfg *raftstore.Config) {
		cfg.RaftBaseTickInterval = 100 * time.Millisecond // production pace
		cfg.RegionHeartbeatTicks = 600
		cfg.HibernateRegions = !noHib
	}})
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	presplit(b, c, regions)
	deadline := time.Now().Add(120 * time.Second)
	for totalAwake(c) > 0 && !noHib {
		if time.Now().After(deadline) {
			b.Fatalf("%d regions still awake", totalAwake(c))
		}
		time.Sleep(200 * time.Millisecond) // waiting for hibernation; polled
	}
	b.ResetTimer()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		time.Sleep(5 * time.Second) // the idle window being measured
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(cpu)/float64(time.Duration(b.N)*5*time.Second)*100, "idle-cpu-%")
	b.ReportMetric(float64(ms.HeapAlloc-ms0.HeapAlloc)/regions, "heap-B/region")
	b.ReportMetric(float64(ms.HeapAlloc-ms0.HeapAlloc)/(3*regions), "heap-B/peer")
	b.ReportMetric(float64(totalAwake(c)), "awake-regions")
}

// BenchmarkPutRegions: 16 clients putting 128-byte values to random keys
// spread over 1, 16 and 256 regions on 3 stores; writes/s next to raft-DB
// syncs/s.
func BenchmarkPutRegions(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("regions=%d", n), func(b *testing.B) {
			c := New(b, Options{Stores: 3, Seed: 8, Tweak: func(cfg *raftstore.Config) {
				cfg.RaftLogGCCountLimit = 10000
			}})
			presplit(b, c, n)
			value := string(make([]byte, 128))
			const clients = 16
			var done atomic.Int64
			syncs0 := c.totalRaftWrites()
			per := (b.N + clients - 1) / clients
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					cl := c.NewClient(uint64(i))
					rnd := rand.New(rand.NewPCG(uint64(i), 8))
					for j := 0; j < per; j++ {
						if cl.Put(context.Background(), fmt.Sprintf("k%06d-%d", rnd.IntN(1000000), i), value) != OK {
							b.Error("put failed")
							return
						}
						done.Add(1)
					}
				}(i)
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(done.Load())/el.Seconds(), "writes/s")
			b.ReportMetric(float64(c.totalRaftWrites()-syncs0)/el.Seconds(), "raft-syncs/s")
		})
	}
}
