package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// fuzzReader hands out small numbers from the fuzzer's bytes; zero once
// they run out.
type fuzzReader struct{ b []byte }

func (f *fuzzReader) u8() uint64 {
	if len(f.b) == 0 {
		return 0
	}
	v := f.b[0]
	f.b = f.b[1:]
	return uint64(v)
}

func (f *fuzzReader) u32() uint64 {
	if len(f.b) < 4 {
		return f.u8()
	}
	v := binary.LittleEndian.Uint32(f.b)
	f.b = f.b[4:]
	return uint64(v)
}

// message decodes an arbitrary peer message: any type, sender, term,
// indexes and entries, as a faulty or malicious peer could send. It is
// addressed to to unless the sender byte's high bit says otherwise.
func (f *fuzzReader) message(to uint64) eraftpb.Message {
	m := eraftpb.Message{MsgType: eraftpb.MessageType(f.u8() % 20), To: to}
	if from := f.u8(); from < 128 {
		m.From = from % 5
	} else {
		m.From, m.To = from%5, from/5%5
	}
	m.Term = f.u8() % 8
	m.LogTerm = f.u8() % 8
	m.Index = f.u8() % 16
	m.Commit = f.u8() % 16
	m.Reject = f.u8()%2 == 1
	for n := f.u8() % 4; n > 0; n-- {
		m.Entries = append(m.Entries, &eraftpb.Entry{
			EntryType: eraftpb.EntryType(f.u8() % 2), Term: f.u8() % 8, Index: f.u8() % 16, Data: []byte{byte(f.u8())},
		})
	}
	if m.MsgType == eraftpb.MessageType_MsgSnapshot {
		md := &eraftpb.SnapshotMetadata{Index: f.u8() % 16, Term: f.u8() % 8}
		switch f.u8() % 4 {
		case 0:
			md.ConfState = &eraftpb.ConfState{Voters: []uint64{1, 2, 3}}
		case 1:
			md.ConfState = &eraftpb.ConfState{Voters: []uint64{1, 2, 3, 4}}
		case 2:
			md.ConfState = &eraftpb.ConfState{Voters: []uint64{0, 1, 2, 3, 3}}
		case 3:
			// No ConfState at all.
		}
		m.Snapshot = &eraftpb.Snapshot{Metadata: md}
	}
	if f.u8()%4 == 0 {
		m.RejectHint = f.u32()
	}
	return m
}

// fuzzStepMaxDeliveries bounds the messages FuzzRaftStep delivers in one
// iteration. A forged message may start an exchange that never settles
// (say, two nodes that each believe they lead the same term); once the
// budget is spent the iteration just stops. Honest exchanges in a
// three-node group take a few dozen messages per input message.
const fuzzStepMaxDeliveries = 2000

// FuzzRaftStep feeds arbitrary messages to the members of a three-node
// group that has elected a leader and committed a few entries, through
// RawNode.Step as the store does; the group's answers travel the same way.
// No message may panic a node, break applied <= committed <= last index,
// or move a node's term backwards.
func FuzzRaftStep(f *testing.F) {
	f.Add([]byte{byte(msgApp), 2, 2, 1, 3, 9, 0, 1, 0, 2, 9, 7})
	f.Add([]byte{byte(msgVote), 3, 5, 5, 15, 0, 0, 0})
	f.Add([]byte{byte(msgHeartbeat), 1, 1, 0, 0, 15, 0, 0})
	f.Add([]byte{byte(msgSnap), 2, 7, 0, 0, 0, 0, 0, 12, 3})
	f.Add([]byte{byte(msgAppResp), 2, 1, 0, 40, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{byte(msgTransfer), 3, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		nw := newNetworkN(t, 3)
		nw.hup(1)
		for i := 0; i < 3; i++ {
			nw.propose(1, fmt.Sprint(i))
		}
		terms := map[uint64]uint64{}
		for id, p := range nw.peers {
			terms[id] = p.Term
		}
		budget := fuzzStepMaxDeliveries
		// step delivers m to p through the store's entry point and checks
		// p afterwards.
		step := func(p *raft, m eraftpb.Message) {
			_ = (&RawNode{raft: p}).Step(m)
			p.assertCommitInvariant()
			if p.Term < terms[p.id] {
				t.Fatalf("node %d: term went back from %d to %d on %s", p.id, terms[p.id], p.Term, DescribeMessage(m, nil))
			}
			terms[p.id] = p.Term
		}
		// settle lets the group react to what id sent, so that responses
		// to the bad message are handled too. It reports false once the
		// delivery budget is spent.
		settle := func(id uint64) bool {
			queue := nw.peers[id].readMessages()
			for len(queue) > 0 {
				if budget == 0 {
					return false
				}
				budget--
				m := queue[0]
				queue = queue[1:]
				p := nw.peers[m.To]
				if p == nil {
					continue
				}
				step(p, m)
				queue = append(queue, p.readMessages()...)
			}
			return true
		}
		in := &fuzzReader{b: data}
		for i := 0; i < 64 && len(in.b) > 0; i++ {
			to := 1 + in.u8()%3
			step(nw.peers[to], in.message(to))
			if !settle(to) {
				return
			}
			if in.u8()%4 == 0 {
				nw.peers[to].tick()
				if !settle(to) {
					return
				}
			}
		}
	})
}

// FuzzRaftSchedule drives a three-node group with genuine messages only,
// in an order the fuzzer picks: ticks, campaigns, proposals, log
// compaction (so that lagging nodes need snapshots), and delivery, loss or
// duplication of each pending message. Messages go through RawNode.Step,
// which must not take any of them for malformed. Safety must hold: at most
// one leader per term, and committed entries agree across nodes.
//
// The input is a list of (node, operation) byte pairs; see the switch.
func FuzzRaftSchedule(f *testing.F) {
	f.Add([]byte{0, 1, 3, 1, 4, 4, 4, 4, 4, 4, 2, 1, 4, 4, 4, 4})
	f.Add([]byte{0, 2, 0, 3, 4, 5, 4, 6, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4})
	f.Add([]byte{0, 1, 4, 4, 4, 4, 2, 1, 5, 5, 0, 2, 4, 4, 4, 4, 4, 6, 6, 4, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		nw := newNetworkN(t, 3, withPreVote, withCheckQuorum)
		in := &fuzzReader{b: data}
		var pending []eraftpb.Message
		collect := func() {
			for id := uint64(1); id <= 3; id++ {
				pending = append(pending, nw.peers[id].readMessages()...)
			}
		}
		leaders := map[uint64]uint64{} // term -> leader
		for step := 0; step < 200 && len(in.b) > 0; step++ {
			id := 1 + in.u8()%3
			switch in.u8() % 8 {
			case 0:
				_ = nw.peers[id].Step(eraftpb.Message{From: id, To: id, MsgType: msgHup})
			case 1:
				nw.peers[id].tick()
			case 2:
				_ = nw.peers[id].Step(eraftpb.Message{From: id, To: id, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte{byte(step)}}}})
			case 3, 4: // deliver the next pending message
				if len(pending) > 0 {
					m := pending[0]
					pending = pending[1:]
					if err := (&RawNode{raft: nw.peers[m.To]}).Step(m); errors.Is(err, ErrStepMalformedMsg) {
						t.Fatalf("genuine message dropped: %s: %v", DescribeMessage(m, nil), err)
					}
				}
			case 5: // lose it
				if len(pending) > 0 {
					pending = pending[1:]
				}
			case 6: // deliver it twice, later
				if len(pending) > 0 {
					pending = append(pending, pending[0])
				}
			case 7: // compact the log up to the commit index
				p, s := nw.peers[id], nw.storage[id]
				cs := p.trk.ConfState()
				if _, err := s.CreateSnapshot(p.raftLog.committed, &cs, nil); err == nil {
					if err := s.Compact(p.raftLog.committed); err != nil {
						t.Fatal(err)
					}
				}
			}
			for id := uint64(1); id <= 3; id++ {
				p := nw.peers[id]
				persistAll(p, nw.storage[id])
				p.assertCommitInvariant()
				if p.state == StateLeader {
					if l, ok := leaders[p.Term]; ok && l != id {
						t.Fatalf("two leaders in term %d: %d and %d", p.Term, l, id)
					}
					leaders[p.Term] = id
				}
			}
			collect()
			if len(pending) > 1000 {
				pending = pending[len(pending)-1000:]
			}
		}
		checkCommittedAgreeCompacted(t, nw)
	})
}

// checkCommittedAgreeCompacted is checkCommittedAgree for logs that may be
// compacted: it compares the committed entries whose terms both nodes still
// know.
func checkCommittedAgreeCompacted(t *testing.T, nw *network) {
	t.Helper()
	for a := uint64(1); a <= 3; a++ {
		for b := a + 1; b <= 3; b++ {
			pa, pb := nw.peers[a], nw.peers[b]
			for i := max(pa.raftLog.firstIndex(), pb.raftLog.firstIndex()); i <= min(pa.raftLog.committed, pb.raftLog.committed); i++ {
				ta, erra := pa.raftLog.term(i)
				tb, errb := pb.raftLog.term(i)
				if erra == nil && errb == nil && ta != tb {
					t.Fatalf("node %d and %d disagree on committed entry %d: term %d vs %d", a, b, i, ta, tb)
				}
			}
		}
	}
}
