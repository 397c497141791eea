// Package etcdcompare runs go.etcd.io/raft/v3 through the same benchmarks
// as regionkv's raft/bench_test.go, name for name and shape for shape, so
// the two can be compared on one machine (see README.md and compare.sh). It
// is a separate module so that the main module never depends on etcd raft.
//
// Where regionkv's benchmarks reach into package internals, this side gets
// to the same state through etcd's public API; the differences are noted at
// each benchmark.
package etcdcompare

import (
	"fmt"
	"math"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// nopLogger discards everything without formatting, like regionkv's
// default raft.DiscardLogger, so neither side pays for log lines.
type nopLogger struct{}

func (nopLogger) Debug(...any)              {}
func (nopLogger) Debugf(string, ...any)     {}
func (nopLogger) Error(...any)              {}
func (nopLogger) Errorf(string, ...any)     {}
func (nopLogger) Info(...any)               {}
func (nopLogger) Infof(string, ...any)      {}
func (nopLogger) Warning(...any)            {}
func (nopLogger) Warningf(string, ...any)   {}
func (nopLogger) Fatal(v ...any)            { panic(fmt.Sprint(v...)) }
func (nopLogger) Fatalf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
func (nopLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (nopLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }

// newNode returns node id of a cluster of the given voters, seeded with a
// snapshot at index 1 (term 1) that lists them, and configured like
// regionkv's newTestConfig: election 10, heartbeat 1, 256 inflight
// messages, no pre-vote, no check-quorum.
func newNode(tb testing.TB, id uint64, voters []uint64, maxSizePerMsg uint64, maxInflight int) (*raft.RawNode, *raft.MemoryStorage) {
	tb.Helper()
	ms := raft.NewMemoryStorage()
	snap := pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters}}}
	if err := ms.ApplySnapshot(snap); err != nil {
		tb.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         ms,
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflight,
		Logger:          nopLogger{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rn, ms
}

// benchCluster mirrors regionkv's benchCluster: it follows the caller's
// contract (persist HardState and entries, send, Advance) and keeps no
// test bookkeeping but the applied index, which regionkv reads from the
// node's internals.
type benchCluster struct {
	nodes   []*raft.RawNode
	storage []*raft.MemoryStorage
	applied []uint64
	inbox   []pb.Message
}

func newBenchCluster(b *testing.B, n int) *benchCluster {
	c := &benchCluster{}
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	for _, id := range ids {
		rn, s := newNode(b, id, ids, 1<<20, 256)
		c.nodes = append(c.nodes, rn)
		c.storage = append(c.storage, s)
		c.applied = append(c.applied, 1)
	}
	_ = c.nodes[0].Campaign()
	c.stabilize()
	if st := c.nodes[0].BasicStatus(); st.RaftState != raft.StateLeader {
		b.Fatalf("node 1 is %s after campaigning", st.RaftState)
	}
	return c
}

func (c *benchCluster) stabilize() {
	for {
		progress := false
		for i, rn := range c.nodes {
			if !rn.HasReady() {
				continue
			}
			progress = true
			rd := rn.Ready()
			s := c.storage[i]
			if !raft.IsEmptyHardState(rd.HardState) {
				_ = s.SetHardState(rd.HardState)
			}
			_ = s.Append(rd.Entries)
			c.inbox = append(c.inbox, rd.Messages...)
			if n := len(rd.CommittedEntries); n > 0 {
				c.applied[i] = rd.CommittedEntries[n-1].Index
			}
			rn.Advance(rd)
		}
		msgs := c.inbox
		c.inbox = c.inbox[:0:0]
		for _, m := range msgs {
			progress = true
			_ = c.nodes[m.To-1].Step(m)
		}
		if !progress {
			return
		}
	}
}

// compact keeps the in-memory logs small during long runs.
func (c *benchCluster) compact() {
	for i := range c.nodes {
		applied := c.applied[i]
		if fi, _ := c.storage[i].FirstIndex(); applied > fi+1000 {
			_ = c.storage[i].Compact(applied - 500)
		}
	}
}

// BenchmarkProposeCommit measures propose->commit through RawNode on a
// 3-node in-memory cluster: one proposal at a time (latency-bound, every op
// pays the full round trip), and batches of 64 proposals per round trip.
// An op is a 128-byte proposal on the leader followed by stabilize: every
// node's Readys handled and every message delivered until all are quiet.
func BenchmarkProposeCommit(b *testing.B) {
	data := make([]byte, 128)
	for _, batch := range []int{1, 64} {
		name := "sequential"
		if batch > 1 {
			name = "batch64"
		}
		b.Run(name, func(b *testing.B) {
			c := newBenchCluster(b, 3)
			leader := c.nodes[0]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				for j := 0; j < n; j++ {
					if err := leader.Propose(data); err != nil {
						b.Fatal(err)
					}
				}
				c.stabilize()
				if i%4096 < batch {
					c.compact()
				}
			}
			b.StopTimer()
			if got := leader.BasicStatus().Commit; got < uint64(b.N) {
				b.Fatalf("committed %d < %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// persist handles a single node's Readys outside a cluster: HardState and
// entries to storage, Advance; messages are dropped.
func persist(rn *raft.RawNode, ms *raft.MemoryStorage) {
	for rn.HasReady() {
		rd := rn.Ready()
		if !raft.IsEmptyHardState(rd.HardState) {
			_ = ms.SetHardState(rd.HardState)
		}
		_ = ms.Append(rd.Entries)
		rn.Advance(rd)
	}
}

// BenchmarkStepMsgApp measures a follower stepping a MsgApp carrying one
// entry that extends its log. regionkv steps its internal raft; here the
// RawNode (whose Step adds two map-free checks). regionkv's log starts at
// index 0, this one after the bootstrap snapshot at index 1.
func BenchmarkStepMsgApp(b *testing.B) {
	rn, s := newNode(b, 2, []uint64{1, 2, 3}, math.MaxUint64, 256)
	// Become a follower of node 1 in term 1.
	if err := rn.Step(pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 1, Commit: 1}); err != nil {
		b.Fatal(err)
	}
	persist(rn, s)
	data := make([]byte, 128)
	msg := pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgApp}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx := uint64(i) + 1
		msg.Index, msg.LogTerm, msg.Commit = idx, 1, idx
		msg.Entries = []pb.Entry{{Term: 1, Index: idx + 1, Data: data}}
		_ = rn.Step(msg)
		if i%1024 == 1023 {
			b.StopTimer()
			persist(rn, s)
			b.StartTimer()
		}
	}
}

// BenchmarkStepMsgAppResp measures a leader stepping a MsgAppResp that
// advances a follower's match index, which commits an entry and broadcasts
// the new commit index. regionkv appends the entries and sets both
// followers to StateReplicate with nothing in flight through its internals;
// here the leader of a 3-node cluster proposes them (outside the timer, in
// chunks whose messages are dropped), with an inflight window large enough
// (as regionkv sets) that no follower is ever paused.
func BenchmarkStepMsgAppResp(b *testing.B) {
	ids := []uint64{1, 2, 3}
	c := &benchCluster{}
	for _, id := range ids {
		rn, s := newNode(b, id, ids, math.MaxUint64, 1<<30)
		c.nodes = append(c.nodes, rn)
		c.storage = append(c.storage, s)
		c.applied = append(c.applied, 1)
	}
	_ = c.nodes[0].Campaign()
	c.stabilize() // both followers ack the leader's empty entry: StateReplicate
	r, s := c.nodes[0], c.storage[0]
	first, _ := s.LastIndex()
	data := make([]byte, 128)
	for i := 0; i < b.N; i++ {
		if err := r.Propose(data); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			persist(r, s)
		}
	}
	persist(r, s)
	msg := pb.Message{From: 2, To: 1, Term: r.BasicStatus().Term, Type: pb.MsgAppResp}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg.Index = first + uint64(i) + 1
		_ = r.Step(msg)
		if i%1024 == 1023 {
			b.StopTimer()
			persist(r, s)
			b.StartTimer()
		}
	}
	b.StopTimer()
	if got := r.BasicStatus().Commit; got != first+uint64(b.N) {
		b.Fatalf("commit index %d, want %d", got, first+uint64(b.N))
	}
}
