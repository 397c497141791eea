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
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/grpctransport"
	"github.com/regionkv/regionkv/raftstore/raftstorage"
	"github.com/regionkv/regionkv/raftstore/schedulertest"
)

// GRPCNode is one store of a GRPCCluster: engines, raftstore, store server
// and its gRPC listener, and the outgoing BatchRaft transport.
type GRPCNode struct {
	E     *engine.Engines
	G     *server.GRPC
	Srv   *server.Server
	Trans *grpctransport.Transport
	Store *raftstore.Store
	done  chan error
}

// GRPCCluster is three stores in this process that talk only over real
// gRPC on 127.0.0.1 (unlike Cluster's in-memory network), sharing the
// region FirstRegionID with one peer each, under a fake scheduler.
type GRPCCluster struct {
	Nodes  []*GRPCNode
	Region *metapb.Region
	leader int // index of the node that last took a write
}

// StartGRPCCluster starts the three stores. tweak (if not nil) adjusts each
// store's raftstore config; handler (if not nil) wraps each store's
// receiving side. The cluster stops when the test ends.
func StartGRPCCluster(t *testing.T, tweak func(*raftstore.Config), handler func(i int, s *raftstore.Store) raftstore.MessageHandler) *GRPCCluster {
	t.Helper()
	sched := schedulertest.New(1, 1000)
	sched.SetBootstrapped()
	c := &GRPCCluster{Region: &metapb.Region{Id: FirstRegionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}}
	for i := 1; i <= 3; i++ {
		c.Region.Peers = append(c.Region.Peers, &metapb.Peer{Id: uint64(10 + i), StoreId: uint64(i)})
	}
	resolver := grpctransport.MapResolver{}
	base := t.TempDir()
	for i := 1; i <= 3; i++ {
		e, err := engine.Open(filepath.Join(base, fmt.Sprint(i)), engine.Options{MemTableSize: 8 << 20, BlockCacheSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if err := raftstore.BootstrapStore(e, 1, uint64(i)); err != nil {
			t.Fatal(err)
		}
		if err := raftstore.PrepareBootstrapRegion(e, c.Region); err != nil {
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
		c.Nodes = append(c.Nodes, &GRPCNode{E: e, G: g, Srv: srv, done: make(chan error, 1)})
	}
	t.Cleanup(func() {
		// Stores and their outgoing streams first: GracefulStop waits
		// for the incoming streams to end.
		for _, n := range c.Nodes {
			if n.Store != nil {
				n.Store.Stop()
			}
			if n.Trans != nil {
				n.Trans.Close()
			}
		}
		for _, n := range c.Nodes {
			n.G.Stop()
			if n.Store != nil {
				<-n.done
			}
			n.E.Close()
		}
	})
	for i, n := range c.Nodes {
		n.Trans = grpctransport.New(resolver, nil)
		rc := TestConfig()
		if tweak != nil {
			tweak(&rc)
		}
		s, err := raftstore.NewStore(rc, n.E, sched, n.Trans)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.Store = s
		n.Srv.SetStorage(raftstorage.New(s))
		var h raftstore.MessageHandler = s
		if handler != nil {
			h = handler(i, s)
		}
		n.Srv.SetRaftHandler(h)
		go func(n *GRPCNode) { n.done <- n.G.Serve() }(n)
	}
	return c
}

// Put writes k through whichever store leads, following NotLeader hints
// and trying the next store while there is no leader; it returns the index
// of the node that took the write. The test fails if ctx ends first.
func (c *GRPCCluster) Put(t *testing.T, ctx context.Context, k, v string) int {
	t.Helper()
	kvctx := &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: c.Region.RegionEpoch}
	for {
		if ctx.Err() != nil {
			t.Fatalf("put %s: no leader accepted it", k)
		}
		r, err := c.Nodes[c.leader].Srv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kvctx, Key: []byte(k), Value: []byte(v)})
		if err == nil && r.RegionError == nil && r.Error == "" {
			return c.leader
		}
		if l := r.GetRegionError().GetNotLeader().GetLeader(); l != nil {
			c.leader = int(l.StoreId - 1)
			continue
		}
		c.leader = (c.leader + 1) % len(c.Nodes)
		time.Sleep(50 * time.Millisecond) // waiting for an election
	}
}
