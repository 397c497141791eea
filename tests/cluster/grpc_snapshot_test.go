package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raftstore"
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
	var blocked atomic.Uint64
	var snapBytes, snaps atomic.Int64
	c := StartGRPCCluster(t, func(rc *raftstore.Config) { rc.Seed = seed },
		func(i int, s *raftstore.Store) raftstore.MessageHandler {
			return blockGate{h: s, self: uint64(i + 1), blocked: &blocked, snapBytes: &snapBytes, snaps: &snaps}
		})
	nodes := c.Nodes
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status := func(i int) raftstore.PeerStatus {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, _ := nodes[i].Store.PeerStatus(sctx, FirstRegionID)
		return st
	}
	leader := 0
	put := func(k, v string) { leader = c.Put(t, ctx, k, v) }
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
	view, err := nodes[lagger-1].E.NewSnapshot()
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
