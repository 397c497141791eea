package raft

import (
	"encoding/binary"
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
// indexes and entries, as a faulty or malicious peer could send.
func (f *fuzzReader) message(to uint64) eraftpb.Message {
	m := eraftpb.Message{
		MsgType: eraftpb.MessageType(f.u8() % 20),
		From:    f.u8() % 5,
		To:      to,
		Term:    f.u8() % 8,
		LogTerm: f.u8() % 8,
		Index:   f.u8() % 16,
		Commit:  f.u8() % 16,
		Reject:  f.u8()%2 == 1,
	}
	for n := f.u8() % 4; n > 0; n-- {
		m.Entries = append(m.Entries, &eraftpb.Entry{
			EntryType: eraftpb.EntryType(f.u8() % 2), Term: f.u8() % 8, Index: f.u8() % 16, Data: []byte{byte(f.u8())},
		})
	}
	if m.MsgType == eraftpb.MessageType_MsgSnapshot {
		m.Snapshot = &eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{
			Index: f.u8() % 16, Term: f.u8() % 8, ConfState: &eraftpb.ConfState{Voters: []uint64{1, 2, 3}},
		}}
	}
	if f.u8()%4 == 0 {
		m.RejectHint = f.u32()
	}
	return m
}

// FuzzRaftStep feeds arbitrary messages to the members of a three-node
// group that has elected a leader and committed a few entries, through
// RawNode.Step as the store does. No message may panic a node or break
// applied <= committed <= last index.
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
		in := &fuzzReader{b: data}
		for step := 0; step < 64 && len(in.b) > 0; step++ {
			to := 1 + in.u8()%3
			p := nw.peers[to]
			rn := &RawNode{raft: p}
			m := in.message(to)
			if m.MsgType == msgHeartbeat {
				// A leader sends at most min(match, committed) in a
				// heartbeat; a larger commit is a corrupted log, which
				// raft rightly panics on (as etcd/raft does), not an input
				// to survive.
				m.Commit = min(m.Commit, p.raftLog.lastIndex())
			}
			if m.MsgType == msgProp {
				// Forwarded proposals carry no term (raft panics on one
				// when it forwards: a broken-invariant check, as in etcd).
				m.Term = 0
			}
			_ = rn.Step(m)
			p.assertCommitInvariant()
			// Let the group react, so that responses to the bad message
			// are handled too.
			nw.send(nw.filter(p.readMessages())...)
			if in.u8()%4 == 0 {
				nw.tick(to, 1)
			}
		}
	})
}

// FuzzRaftSchedule drives a three-node group with genuine messages only,
// in an order the fuzzer picks: ticks, campaigns, proposals, and delivery,
// loss or duplication of each pending message. Safety must hold: at most
// one leader per term, and committed entries agree across nodes.
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
			switch in.u8() % 7 {
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
					_ = nw.peers[m.To].Step(m)
				}
			case 5: // lose it
				if len(pending) > 0 {
					pending = pending[1:]
				}
			case 6: // deliver it twice, later
				if len(pending) > 0 {
					pending = append(pending, pending[0])
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
		checkCommittedAgree(t, nw)
	})
}
