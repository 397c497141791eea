package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// Shorthands for message types in tests.
const (
	msgHup          = eraftpb.MessageType_MsgHup
	msgBeat         = eraftpb.MessageType_MsgBeat
	msgProp         = eraftpb.MessageType_MsgPropose
	msgApp          = eraftpb.MessageType_MsgAppend
	msgAppResp      = eraftpb.MessageType_MsgAppendResponse
	msgVote         = eraftpb.MessageType_MsgRequestVote
	msgVoteResp     = eraftpb.MessageType_MsgRequestVoteResponse
	msgPreVote      = eraftpb.MessageType_MsgRequestPreVote
	msgPreVoteResp  = eraftpb.MessageType_MsgRequestPreVoteResponse
	msgSnap         = eraftpb.MessageType_MsgSnapshot
	msgHeartbeat    = eraftpb.MessageType_MsgHeartbeat
	msgHeartbeatRsp = eraftpb.MessageType_MsgHeartbeatResponse
	msgUnreachable  = eraftpb.MessageType_MsgUnreachable
	msgSnapStatus   = eraftpb.MessageType_MsgSnapStatus
	msgCheckQuorum  = eraftpb.MessageType_MsgCheckQuorum
	msgTransfer     = eraftpb.MessageType_MsgTransferLeader
	msgTimeoutNow   = eraftpb.MessageType_MsgTimeoutNow
	msgReadIndex    = eraftpb.MessageType_MsgReadIndex
	msgReadIndexRsp = eraftpb.MessageType_MsgReadIndexResp
)

// newTestStorage returns a MemoryStorage whose configuration has the given
// voters and an empty log.
func newTestStorage(voters ...uint64) *MemoryStorage {
	ms := NewMemoryStorage()
	ms.snapshot.Metadata.ConfState.Voters = slices.Clone(voters)
	return ms
}

func newTestConfig(id uint64, election, heartbeat int, s Storage) *Config {
	return &Config{
		ID:              id,
		ElectionTick:    election,
		HeartbeatTick:   heartbeat,
		Storage:         s,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
		Rand:            rand.New(rand.NewPCG(id, 42)),
	}
}

func newTestRaft(t testing.TB, id uint64, election, heartbeat int, s Storage, opts ...func(*Config)) *raft {
	t.Helper()
	c := newTestConfig(id, election, heartbeat, s)
	for _, o := range opts {
		o(c)
	}
	r, err := newRaft(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }
func withLeaseRead(c *Config) {
	c.CheckQuorum = true
	c.ReadOnlyOption = ReadOnlyLeaseBased
}

// readMessages takes the queued outgoing messages.
func (r *raft) readMessages() []eraftpb.Message {
	// The messages leave after their Ready was handled: with the log
	// persisted, as an application persists it (a leader's MsgApp may go
	// out earlier, but the commit index it carries counts only persisted
	// entries of the leader: sendableCommit).
	if s, ok := r.raftLog.storage.(*MemoryStorage); ok {
		persistAll(r, s)
	}
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// persistAll makes the unstable log stable, as an application would.
func persistAll(r *raft, s *MemoryStorage) {
	if snap := r.raftLog.unstable.snapshot; snap != nil {
		if err := s.ApplySnapshot(*snap); err != nil {
			panic(err)
		}
		r.raftLog.stableSnapTo(snap.Metadata.Index)
	}
	if ents := r.raftLog.unstableEntries(); len(ents) > 0 {
		if err := s.Append(ents); err != nil {
			panic(err)
		}
		last := ents[len(ents)-1]
		r.raftLog.stableTo(last.Index, last.Term)
	}
}

type connem struct{ from, to uint64 }

// network connects raft nodes in memory and delivers messages
// synchronously, breadth first, with controllable faults: cut, isolate,
// drop(from, to, perc), ignore(type) and recover. Randomness comes from a
// seeded generator so failures replay.
type network struct {
	t       testing.TB
	peers   map[uint64]*raft
	storage map[uint64]*MemoryStorage
	dropm   map[connem]float64
	ignorem map[eraftpb.MessageType]bool
	rand    *rand.Rand
	// msgHook, if set, is consulted for every message; false drops it.
	msgHook func(eraftpb.Message) bool
}

// newNetwork builds a cluster of the given nodes; a nil entry is replaced by
// a fresh node with election 10, heartbeat 1 and options opts. IDs are 1..n.
func newNetwork(t testing.TB, peers []*raft, opts ...func(*Config)) *network {
	n := &network{
		t:       t,
		peers:   map[uint64]*raft{},
		storage: map[uint64]*MemoryStorage{},
		dropm:   map[connem]float64{},
		ignorem: map[eraftpb.MessageType]bool{},
		rand:    rand.New(rand.NewPCG(1, 2)),
	}
	ids := make([]uint64, len(peers))
	for i := range peers {
		ids[i] = uint64(i + 1)
	}
	for i, p := range peers {
		id := ids[i]
		if p == nil {
			s := newTestStorage(ids...)
			p = newTestRaft(t, id, 10, 1, s, opts...)
			n.storage[id] = s
		} else if ms, ok := p.raftLog.storage.(*MemoryStorage); ok {
			n.storage[id] = ms
		}
		n.peers[id] = p
	}
	return n
}

func newNetworkN(t testing.TB, size int, opts ...func(*Config)) *network {
	return newNetwork(t, make([]*raft, size), opts...)
}

// send delivers msgs and everything they cause until the network is quiet.
func (nw *network) send(msgs ...eraftpb.Message) {
	for len(msgs) > 0 {
		m := msgs[0]
		msgs = msgs[1:]
		p, ok := nw.peers[m.To]
		if !ok {
			continue
		}
		_ = p.Step(m)
		p.assertCommitInvariant()
		msgs = append(msgs, nw.filter(p.readMessages())...)
	}
}

// hup makes id campaign.
func (nw *network) hup(id uint64) {
	nw.send(eraftpb.Message{From: id, To: id, MsgType: msgHup})
}

// propose proposes data on id.
func (nw *network) propose(id uint64, data string) {
	nw.send(eraftpb.Message{From: id, To: id, MsgType: msgProp, Entries: []*eraftpb.Entry{{Data: []byte(data)}}})
}

// tick ticks id n times and delivers whatever it sends.
func (nw *network) tick(id uint64, n int) {
	p := nw.peers[id]
	for i := 0; i < n; i++ {
		p.tick()
		nw.send(nw.filter(p.readMessages())...)
	}
}

func (nw *network) drop(from, to uint64, perc float64) { nw.dropm[connem{from, to}] = perc }

func (nw *network) cut(one, other uint64) {
	nw.drop(one, other, 1)
	nw.drop(other, one, 1)
}

func (nw *network) isolate(id uint64) {
	for other := range nw.peers {
		if other != id {
			nw.cut(id, other)
		}
	}
}

func (nw *network) ignore(t eraftpb.MessageType) { nw.ignorem[t] = true }

func (nw *network) recover() {
	nw.dropm = map[connem]float64{}
	nw.ignorem = map[eraftpb.MessageType]bool{}
}

func (nw *network) filter(msgs []eraftpb.Message) []eraftpb.Message {
	var out []eraftpb.Message
	for _, m := range msgs {
		if nw.ignorem[m.MsgType] {
			continue
		}
		if m.MsgType == msgHup {
			panic("unexpected MsgHup on the wire")
		}
		if perc := nw.dropm[connem{m.From, m.To}]; perc > 0 && nw.rand.Float64() < perc {
			continue
		}
		if nw.msgHook != nil && !nw.msgHook(m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// leader returns the ID of the unique leader with the highest term.
func (nw *network) leader() uint64 {
	var lead, term uint64
	for id, p := range nw.peers {
		if p.state == StateLeader && p.Term >= term {
			lead, term = id, p.Term
		}
	}
	return lead
}

// mustState asserts a node's role and term.
func mustState(t testing.TB, r *raft, state StateType, term uint64) {
	t.Helper()
	if r.state != state || r.Term != term {
		t.Fatalf("node %d: state %s term %d, want %s term %d", r.id, r.state, r.Term, state, term)
	}
}

// ltoa renders a log for comparisons.
func ltoa(l *raftLog) string {
	s := fmt.Sprintf("committed: %d applied: %d\n", l.committed, l.applied)
	for _, e := range l.allEntries() {
		s += fmt.Sprintf("%d/%d %q\n", e.Term, e.Index, e.Data)
	}
	return s
}

// entsWithTerms returns entries 1..n with the given terms.
func entsWithTerms(terms ...uint64) []eraftpb.Entry {
	ents := make([]eraftpb.Entry, len(terms))
	for i, t := range terms {
		ents[i] = eraftpb.Entry{Index: uint64(i + 1), Term: t}
	}
	return ents
}

// nodeWithLog returns a raft whose storage holds entries with the given
// terms and whose HardState term is the last of them.
func nodeWithLog(t testing.TB, id uint64, voters []uint64, terms ...uint64) *raft {
	s := newTestStorage(voters...)
	if err := s.Append(entsWithTerms(terms...)); err != nil {
		t.Fatal(err)
	}
	var term uint64
	if len(terms) > 0 {
		term = terms[len(terms)-1]
	}
	if err := s.SetHardState(eraftpb.HardState{Term: term}); err != nil {
		t.Fatal(err)
	}
	return newTestRaft(t, id, 10, 1, s)
}

func msgTypes(msgs []eraftpb.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d->%d %s", m.From, m.To, MessageTypeName(m.MsgType)))
	}
	return out
}

// tickAll ticks every node once per round, in ID order, for n rounds,
// delivering messages after each tick.
func (nw *network) tickAll(n int) {
	for i := 0; i < n; i++ {
		for id := uint64(1); id <= uint64(len(nw.peers)); id++ {
			if _, ok := nw.peers[id]; ok {
				nw.tick(id, 1)
			}
		}
	}
}
