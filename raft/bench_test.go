package raft

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// benchCluster is a minimal 3-node driver for benchmarks: it follows the
// caller's contract but keeps no test bookkeeping.
type benchCluster struct {
	nodes   []*RawNode
	storage []*MemoryStorage
	inbox   []eraftpb.Message
}

func newBenchCluster(b *testing.B, n int) *benchCluster {
	c := &benchCluster{}
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	for _, id := range ids {
		s := NewMemoryStorage()
		cs := eraftpb.ConfState{Voters: ids}
		if err := s.ApplySnapshot(eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: &cs}}); err != nil {
			b.Fatal(err)
		}
		cfg := newTestConfig(id, 10, 1, s)
		cfg.MaxSizePerMsg = 1 << 20
		rn, err := NewRawNode(cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.nodes = append(c.nodes, rn)
		c.storage = append(c.storage, s)
	}
	_ = c.nodes[0].Campaign()
	c.stabilize()
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
			if !IsEmptyHardState(rd.HardState) {
				_ = s.SetHardState(rd.HardState)
			}
			_ = s.Append(rd.Entries)
			c.inbox = append(c.inbox, rd.Messages...)
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
	for i, rn := range c.nodes {
		applied := rn.raft.raftLog.applied
		if fi, _ := c.storage[i].FirstIndex(); applied > fi+1000 {
			_ = c.storage[i].Compact(applied - 500)
		}
	}
}

// BenchmarkProposeCommit measures propose->commit through RawNode on a
// 3-node in-memory cluster: one proposal at a time (latency-bound, every op
// pays the full round trip), and batches of 64 proposals per round trip.
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
			if got := leader.raft.raftLog.committed; got < uint64(b.N) {
				b.Fatalf("committed %d < %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkStepMsgApp measures a follower stepping a MsgApp carrying one
// entry that extends its log.
func BenchmarkStepMsgApp(b *testing.B) {
	s := newTestStorage(1, 2, 3)
	r := newTestRaft(b, 2, 10, 1, s)
	r.becomeFollower(1, 1)
	data := make([]byte, 128)
	msg := eraftpb.Message{From: 1, To: 2, Term: 1, MsgType: msgApp}
	ent := &eraftpb.Entry{Term: 1, Data: data}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx := uint64(i)
		msg.Index, msg.LogTerm, msg.Commit = idx, 1, idx
		if idx == 0 {
			msg.LogTerm = 0
		}
		ent.Index = idx + 1
		msg.Entries = []*eraftpb.Entry{ent}
		_ = r.Step(msg)
		if i%1024 == 1023 {
			b.StopTimer()
			persistAll(r, s)
			r.raftLog.appliedTo(r.raftLog.committed)
			r.readMessages()
			b.StartTimer()
		}
	}
}

// BenchmarkStepMsgAppResp measures a leader stepping a MsgAppResp that
// advances a follower's match index, which commits an entry and broadcasts
// the new commit index.
func BenchmarkStepMsgAppResp(b *testing.B) {
	s := newTestStorage(1, 2, 3)
	r := newTestRaft(b, 1, 10, 1, s)
	r.becomeCandidate()
	r.becomeLeader()
	data := make([]byte, 128)
	ents := make([]eraftpb.Entry, b.N)
	for i := range ents {
		ents[i].Data = data
	}
	r.appendEntry(ents...)
	persistAll(r, s)
	r.readMessages()
	for _, id := range []uint64{2, 3} {
		pr := r.trk.Progress[id]
		pr.BecomeReplicate()
		pr.Next = r.raftLog.lastIndex() + 1 // everything already sent
	}
	r.trk.MaxInflight = 1 << 30
	msg := eraftpb.Message{From: 2, To: 1, Term: r.Term, MsgType: msgAppResp}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg.Index = uint64(i + 2)
		_ = r.Step(msg)
		if i%1024 == 1023 {
			r.readMessages()
		}
	}
}
