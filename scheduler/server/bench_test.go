package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
)

const benchRegions = 100_000

func benchKey(i int) []byte { return []byte(fmt.Sprintf("r%08d", i)) }

// BenchmarkRegionHeartbeat measures region heartbeats processed per second
// by the scheduler, sent over three gRPC heartbeat streams (one per store,
// as stores do) for 100,000 simulated regions with 3 replicas each. The
// regions are created first (untimed); the timed part is steady-state
// heartbeats. Completion is observed, not assumed: each stream ends with a
// heartbeat that bumps its last region's conf_ver, and the benchmark waits
// until GetRegionByID shows it (streams are processed in order).
//
//	go test -run '^$' -bench RegionHeartbeat -benchtime 300000x ./scheduler/server/
func BenchmarkRegionHeartbeat(b *testing.B) {
	cfg := testConfig(b, "bench")
	s := startServer(b, cfg)
	waitLeader(b, s)
	pd := rawPD(b, s.Addr())
	ctx := context.Background()
	h := &pdpb.RequestHeader{ClusterId: s.ClusterID()}

	reqs := make([][]*pdpb.RegionHeartbeatRequest, 3) // by leader store
	for i := range benchRegions {
		start, end := benchKey(i), benchKey(i+1)
		if i == 0 {
			start = nil
		}
		if i == benchRegions-1 {
			end = nil
		}
		id := uint64(1000 + i)
		r := &metapb.Region{Id: id, StartKey: start, EndKey: end, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
		for j := range 3 {
			r.Peers = append(r.Peers, &metapb.Peer{Id: 1_000_000 + uint64(3*i+j), StoreId: uint64(j + 1)})
		}
		leader := r.Peers[i%3]
		reqs[i%3] = append(reqs[i%3], &pdpb.RegionHeartbeatRequest{Header: h, Region: r, Leader: leader,
			Term: 1, ApproximateSize: 96 << 20, ApproximateKeys: 100_000})
	}
	boot, err := pd.Bootstrap(ctx, &pdpb.BootstrapRequest{Header: h, Store: &metapb.Store{Id: 1, Address: "127.0.0.1:30001"},
		Region: reqs[0][0].Region})
	if err != nil || boot.Header.Error != nil {
		b.Fatalf("bootstrap: %v %v", boot, err)
	}
	for id := uint64(2); id <= 3; id++ {
		resp, err := pd.PutStore(ctx, &pdpb.PutStoreRequest{Header: h, Store: &metapb.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:3000%d", id)}})
		if err != nil || resp.Header.Error != nil {
			b.Fatalf("put store: %v %v", resp, err)
		}
	}

	streams := make([]pdpbgrpc.PD_RegionHeartbeatClient, 3)
	for i := range streams {
		st, err := pd.RegionHeartbeat(ctx)
		if err != nil {
			b.Fatal(err)
		}
		streams[i] = st
		go func() { // drain operator responses, if any
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
			}
		}()
	}
	// send pushes n heartbeats round-robin over each stream's regions, then
	// a barrier heartbeat, and waits until every barrier is visible.
	round := 0
	send := func(n int) {
		round++
		var wg sync.WaitGroup
		for i, st := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs := reqs[i]
				for k := range n {
					if err := st.Send(rs[k%len(rs)]); err != nil {
						b.Error(err)
						return
					}
				}
				last := rs[len(rs)-1]
				last.Region.RegionEpoch.ConfVer++
				if err := st.Send(last); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		for i := range streams {
			last := reqs[i][len(reqs[i])-1]
			waitFor(b, 5*time.Minute, "barrier heartbeat", func() bool {
				r, err := pd.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{Header: h, RegionId: last.Region.Id})
				return err == nil && r.Region.GetRegionEpoch().GetConfVer() == last.Region.RegionEpoch.ConfVer
			})
		}
	}
	send(benchRegions / 3) // create every region
	b.ResetTimer()
	t0 := time.Now()
	send(b.N / 3)
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(3*(b.N/3)+3)/el.Seconds(), "heartbeats/s")
	for _, st := range streams {
		_ = st.CloseSend()
	}
	if got := s.leader.Load().cluster.RegionCount(); got != benchRegions {
		b.Fatalf("scheduler holds %d regions, want %d", got, benchRegions)
	}
}
