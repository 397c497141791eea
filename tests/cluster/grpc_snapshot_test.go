package cluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/kv/storage/raftstorage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/grpctransport"
	"github.com/regionkv/regionkv/raftstore/schedulertest"
)

// blockGate wraps a store's receiving side on a real gRPC server: while
// blocked names a store, every message to or from it is dropped (a
// partition of that store), and snapshot bytes received are counted.
type blockGate struct {
	h         raftstore.MessageHandler
	self      uint64
	blocked   *atomic.Uint64
	snapBytes *atomic.Int64
	snaps     *atomic.Int64
}

func (g blockGate) cut(m *rspb.RaftMessage) bool {
	b := g.blocked.Load()
	return b != 0 && (b == g.self || m.FromPeer.GetStoreId() == b)
}

func (g blockGate) HandleRaftMessage(m *rspb.RaftMessage) error {
	if g.cut(m) {
		return nil
	}
	return g.h.HandleRaftMessage(m)
}

func (g blockGate) HandleSnapshot(m *rspb.RaftMessage, r io.Reader) error {
	if g.cut(m) {
		return fmt.Errorf("partitioned")
	}
	g.snaps.Add(1)
	return g.h.HandleSnapshot(m, &countReader{r: r, n: g.snapBytes})
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestGRPCSnapshotCatchUp runs three stores over real gRPC on 127.0.0.1,
// partitions a follower while the leader writes ~3 MB and truncates its
// log past it, then heals: the follower must catch up by a snapshot
// streamed over the Snapshot RPC in several 1 MiB chunks.
func TestGRPCSnapshotCatchUp(t *testing.T) {
	const seed = 61
	t.Logf("seed %d", seed)
	sched := schedulertest.New(1, 1000)
	sched.SetBootstrapped()
	region := &metapb.Region{Id: FirstRegionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	for i := 1; i <= 3; i++ {
		region.Peers = append(region.Peers, &metapb.Peer{Id: uint64(10 + i), StoreId: uint64(i)})
	}
	resolver := grpctransport.MapResolver{}
	var blocked atomic.Uint64
	var snapBytes, snaps atomic.Int64
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
		e, err := engine.Open(filepath.Join(base, fmt.Sprint(i)), engine.Options{MemTableSize: 8 << 20, BlockCacheSize: 8 << 20})
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
	for i, n := range nodes {
		n.trans = grpctransport.New(resolver, nil)
		rc := TestConfig()
		rc.Seed = seed
		s, err := raftstore.NewStore(rc, n.e, sched, n.trans)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.store = s
		n.srv.SetStorage(raftstorage.New(s))
		n.srv.SetRaftHandler(blockGate{h: s, self: uint64(i + 1), blocked: &blocked, snapBytes: &snapBytes, snaps: &snaps})
		go func(n *node) { n.done <- n.g.Serve() }(n)
	}
	defer func() {
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status := func(i int) raftstore.PeerStatus {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, _ := nodes[i].store.PeerStatus(sctx, FirstRegionID)
		return st
	}
	kvctx := &kvrpcpb.Context{RegionId: FirstRegionID, RegionEpoch: region.RegionEpoch}
	leader := 0
	put := func(k, v string) {
		for {
			if ctx.Err() != nil {
				t.Fatalf("put %s: no leader accepted it", k)
			}
			r, err := nodes[leader].srv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kvctx, Key: []byte(k), Value: []byte(v)})
			if err == nil && r.RegionError == nil && r.Error == "" {
				return
			}
			if l := r.GetRegionError().GetNotLeader().GetLeader(); l != nil {
				leader = int(l.StoreId - 1)
				continue
			}
			leader = (leader + 1) % 3
			time.Sleep(50 * time.Millisecond) // waiting for an election
		}
	}
	put("before", "1")
	lagger := (leader+1)%3 + 1 // a follower's store ID
	lag := status(lagger - 1)
	blocked.Store(uint64(lagger))
	value := strings.Repeat("v", 10<<10)
	for i := 0; i < 300; i++ {
		put(fmt.Sprintf("k%04d", i), value)
	}
	waitFor(t, 20*time.Second, "leader log GC past the partitioned follower", func() bool {
		return status(leader).Truncated > lag.LastIndex
	})
	blocked.Store(0)
	var want uint64
	waitFor(t, 30*time.Second, "follower catch-up by snapshot", func() bool {
		ls, fs := status(leader), status(lagger-1)
		want = ls.Applied
		return fs.Applied >= ls.Applied && fs.Truncated > lag.LastIndex
	})
	t.Logf("follower %d caught up to %d by %d snapshot(s), %d bytes streamed", lagger, want, snaps.Load(), snapBytes.Load())
	if snapBytes.Load() <= 1<<20 {
		t.Fatalf("snapshot of %d bytes fits one chunk: the test wants several", snapBytes.Load())
	}
	view, err := nodes[lagger-1].e.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	for _, k := range []string{"before", "k0000", "k0299"} {
		if v, err := view.GetCF("", []byte(k)); err != nil || v == nil {
			t.Fatalf("follower misses %s after catch-up: %v", k, err)
		}
	}
}
