package raft

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

func readIndex(nw *network, id uint64, ctx string) {
	nw.send(eraftpb.Message{From: id, To: id, MsgType: msgReadIndex, Entries: []*eraftpb.Entry{{Data: []byte(ctx)}}})
}

func TestReadIndexSafe(t *testing.T) {
	for _, opt := range []func(*Config){func(*Config) {}, withLeaseRead} {
		nw := newNetworkN(t, 3, opt)
		nw.hup(1)
		nw.propose(1, "a")
		// A lease starts once a quorum answered a heartbeat of the term.
		nw.tick(1, 1)
		heartbeats := 0
		nw.msgHook = func(m eraftpb.Message) bool {
			if m.MsgType == msgHeartbeat {
				heartbeats++
			}
			return true
		}
		for _, id := range []uint64{1, 2, 3} {
			ctx := string(rune('a' + id))
			readIndex(nw, id, ctx)
			r := nw.peers[id]
			if len(r.readStates) != 1 || r.readStates[0].Index != 2 || string(r.readStates[0].RequestCtx) != ctx {
				t.Fatalf("node %d read states %v", id, r.readStates)
			}
			r.readStates = nil
		}
		safe := nw.peers[1].readOnly.option == ReadOnlySafe
		if safe && heartbeats == 0 {
			t.Fatal("safe reads confirmed without heartbeats")
		}
		if !safe && heartbeats != 0 {
			t.Fatal("lease reads sent heartbeats")
		}
	}
}

// A read needs a quorum of heartbeat acks: with the followers cut off, no
// answer; once they answer, it completes with the index recorded at request
// time.
func TestReadIndexNeedsQuorum(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.ignore(msgHeartbeatRsp)
	readIndex(nw, 1, "ctx1")
	readIndex(nw, 1, "ctx2")
	r1 := nw.peers[1]
	if len(r1.readStates) != 0 {
		t.Fatalf("read answered without a quorum: %v", r1.readStates)
	}
	nw.recover()
	// One heartbeat round with the latest context confirms both reads.
	nw.send(eraftpb.Message{From: 1, To: 1, MsgType: msgBeat})
	if len(r1.readStates) != 2 || string(r1.readStates[0].RequestCtx) != "ctx1" || string(r1.readStates[1].RequestCtx) != "ctx2" {
		t.Fatalf("read states %v", r1.readStates)
	}
}

// A new leader answers reads only after committing an entry of its term.
func TestReadIndexWaitsForCurrentTermCommit(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.ignore(msgApp)
	nw.hup(1)
	r1 := nw.peers[1]
	readIndex(nw, 1, "ctx")
	if len(r1.readStates) != 0 || len(r1.pendingReadIndexMessages) != 1 {
		t.Fatalf("read answered before the first commit of the term: %v", r1.readStates)
	}
	nw.recover()
	nw.send(eraftpb.Message{From: 1, To: 1, MsgType: msgBeat})
	if len(r1.readStates) != 1 || r1.readStates[0].Index != 1 {
		t.Fatalf("read states %v", r1.readStates)
	}
}

// A ReadIndex on a deposed leader never returns a ReadState: it cannot
// gather a quorum while partitioned, and stepping down drops the request.
func TestReadIndexOnDeposedLeaderNeverReturns(t *testing.T) {
	nw := newNetworkN(t, 3)
	nw.hup(1)
	nw.isolate(1)
	nw.hup(2)
	nw.propose(2, "new value")
	readIndex(nw, 1, "stale")
	old := nw.peers[1]
	for i := 0; i < 5; i++ {
		nw.tick(1, 1)
	}
	if len(old.readStates) != 0 {
		t.Fatalf("deposed leader answered %v", old.readStates)
	}
	nw.recover()
	nw.tickAll(20)
	if len(old.readStates) != 0 {
		t.Fatalf("deposed leader answered after heal: %v", old.readStates)
	}
	if old.state == StateLeader {
		t.Fatal("old leader still leader")
	}
}

// A single-voter cluster answers at once.
func TestReadIndexSingleNode(t *testing.T) {
	nw := newNetworkN(t, 1)
	nw.hup(1)
	readIndex(nw, 1, "x")
	if rs := nw.peers[1].readStates; len(rs) != 1 || rs[0].Index != 1 {
		t.Fatalf("read states %v", rs)
	}
}

// A follower without a leader drops read requests.
func TestReadIndexFollowerWithoutLeader(t *testing.T) {
	r := newTestRaft(t, 2, 10, 1, newTestStorage(1, 2, 3))
	_ = r.Step(eraftpb.Message{From: 2, To: 2, MsgType: msgReadIndex, Entries: []*eraftpb.Entry{{Data: []byte("x")}}})
	if len(r.readMessages()) != 0 || len(r.readStates) != 0 {
		t.Fatal("read without leader was not dropped")
	}
}

// Through RawNode: ReadIndex on a follower comes back as a ReadState in a
// Ready.
func TestRawNodeReadIndex(t *testing.T) {
	c := newRawCluster(t, 3)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	c.nodes[2].ReadIndex([]byte("req-1"))
	var got []ReadState
	for i := 0; i < 10; i++ {
		for _, id := range c.ids {
			if !c.nodes[id].HasReady() {
				continue
			}
			rd := c.nodes[id].Ready()
			if id == 2 {
				got = append(got, rd.ReadStates...)
			}
			c.inbox = append(c.inbox, rd.Messages...)
			_ = c.storage[id].SetHardState(rd.HardState)
			_ = c.storage[id].Append(rd.Entries)
			c.nodes[id].Advance(rd)
		}
		msgs := c.inbox
		c.inbox = nil
		for _, m := range msgs {
			c.deliver(m)
		}
	}
	if len(got) != 1 || string(got[0].RequestCtx) != "req-1" || got[0].Index != 1 {
		t.Fatalf("read states %v", got)
	}
}
