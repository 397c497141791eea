package integration

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/client"
	kvconfig "github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	schedconfig "github.com/regionkv/regionkv/scheduler/config"
)

// BenchmarkSDKOverhead compares the SDK's Get and Put with a bare gRPC
// call (RawGet / RawPut with the region's context) to the region's leader,
// on a real 3-store cluster with the real scheduler. The difference is the
// SDK's cost per operation: region cache lookup, request context, retry
// loop, connection pick. Gets are lease reads on the leader; Puts go
// through Raft, so their absolute time is dominated by the replication.
// The cluster is started once for all sub-benchmarks.
func BenchmarkSDKOverhead(b *testing.B) {
	// No balancers (the bare client's region context must stay valid) and
	// the default split sizes (the key's region must not split). The
	// stores run in this process, so B/op and allocs/op count their work
	// too: the SDK's overhead is the difference between the two rows.
	c := New(b, Options{Stores: 3, Seed: 31,
		Schedule: func(s *schedconfig.Schedule) { s.Schedulers = nil },
		Raftstore: func(r *kvconfig.Raftstore) {
			d := kvconfig.DefaultRaftstore()
			r.RegionMaxSize, r.RegionSplitSize, r.RegionMaxKeys, r.RegionSplitKeys =
				d.RegionMaxSize, d.RegionSplitSize, d.RegionMaxKeys, d.RegionSplitKeys
		}})
	ctx := context.Background()
	sdk := c.NewClient(client.WithConnsPerStore(1))
	key := []byte("bench-key")
	if err := sdk.Put(ctx, key, []byte("value")); err != nil {
		b.Fatal(err)
	}
	r, err := c.SchedClient().GetRegion(ctx, key)
	if err != nil || r.Leader == nil {
		b.Fatalf("region of the key: %v, %v", r, err)
	}
	leader := c.StoreByID(r.Leader.StoreId)
	cc, err := grpc.NewClient(leader.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	bare := tikvpb.NewTikvClient(cc)
	rctx := &kvrpcpb.Context{RegionId: r.Meta.Id, RegionEpoch: r.Meta.RegionEpoch, Peer: r.Leader}
	// Warm both paths (connections, region cache, leader lease).
	for range 100 {
		if _, err := sdk.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
		if _, err := bare.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: key}); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("get/bare-grpc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := bare.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: key})
			if err != nil || resp.RegionError != nil || resp.Error != "" {
				b.Fatalf("raw get: %v %v %q", err, resp.GetRegionError(), resp.GetError())
			}
		}
	})
	b.Run("get/sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdk.Get(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	value := []byte("value")
	b.Run("put/bare-grpc", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			resp, err := bare.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: fmt.Appendf(nil, "bench-key-%09d", i), Value: value})
			if err != nil || resp.RegionError != nil || resp.Error != "" {
				b.Fatalf("raw put: %v %v %q", err, resp.GetRegionError(), resp.GetError())
			}
		}
	})
	b.Run("put/sdk", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := sdk.Put(ctx, fmt.Appendf(nil, "bench-key-%09d", i), value); err != nil {
				b.Fatal(err)
			}
		}
	})
}
