package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// TestGRPCTransport runs three stores that talk over real gRPC on loopback
// (BatchRaft streams) and writes and reads through one of them.
func TestGRPCTransport(t *testing.T) {
	c := StartGRPCCluster(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := c.Put(t, ctx, "k", "v")
	kvctx := &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: c.Region.RegionEpoch}
	r, err := c.Nodes[leader].Srv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: kvctx, Key: []byte("k")})
	if err != nil || string(r.Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
}
