package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/kv/storage/raftstorage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/grpctransport"
	"github.com/regionkv/regionkv/raftstore/schedulertest"
)

// TestGRPCTransport runs three stores that talk over real gRPC on loopback
// (BatchRaft streams) and writes and reads through one of them.
func TestGRPCTransport(t *testing.T) {
	sched := schedulertest.New(1, 1000)
	sched.SetBootstrapped()
	region := &metapb.Region{Id: FirstRegionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	for i := 1; i <= 3; i++ {
		region.Peers = append(region.Peers, &metapb.Peer{Id: uint64(10 + i), StoreId: uint64(i)})
	}
	resolver := grpctransport.MapResolver{}
	type node struct {
		e     *engine.Engines
		g     *server.GRPC
		srv   *server.Server
		trans *grpctransport.Transport
		store *raftstore.Store
		done  chan error
	}
	var nodes []*node
	base := t.TempDir()
	for i := 1; i <= 3; i++ {
		e, err := engine.Open(filepath.Join(base, fmt.Sprint(i)), engine.Options{MemTableSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if err := raftstore.BootstrapStore(e, 1, uint64(i)); err != nil {
			t.Fatal(err)
		}
		if err := raftstore.PrepareBootstrapRegion(e, region); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Addr, cfg.DataDir = "127.0.0.1:0", base
		srv := server.New(cfg, nil, nil)
		g, err := server.Listen(cfg, srv)
		if err != nil {
			t.Fatal(err)
		}
		resolver[uint64(i)] = g.Addr()
		nodes = append(nodes, &node{e: e, g: g, srv: srv, done: make(chan error, 1)})
	}
	for _, n := range nodes {
		n.trans = grpctransport.New(resolver, nil)
		rc := TestConfig()
		s, err := raftstore.NewStore(rc, n.e, sched, n.trans)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.store = s
		n.srv.SetStorage(raftstorage.New(s))
		n.srv.SetRaftHandler(s)
		go func(n *node) { n.done <- n.g.Serve() }(n)
	}
	defer func() {
		// Stores and their outgoing streams first: GracefulStop waits
		// for the incoming streams to end.
		for _, n := range nodes {
			n.store.Stop()
			n.trans.Close()
		}
		for _, n := range nodes {
			n.g.Stop()
			<-n.done
			n.e.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kvctx := &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: region.RegionEpoch}
	leader := 0
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			t.Fatal("no leader accepted a write")
		}
		r, err := nodes[leader].srv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kvctx, Key: []byte("k"), Value: []byte("v")})
		if err == nil && r.RegionError == nil && r.Error == "" {
			break
		}
		if l := r.GetRegionError().GetNotLeader().GetLeader(); l != nil {
			leader = int(l.StoreId - 1)
			continue
		}
		leader = (leader + 1) % 3
		time.Sleep(50 * time.Millisecond) // waiting for an election
	}
	r, err := nodes[leader].srv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: kvctx, Key: []byte("k")})
	if err != nil || string(r.Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
}
