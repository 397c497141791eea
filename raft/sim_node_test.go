package raft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// simNode is one node as an application would run it: a RawNode over a
// MemoryStorage, driven through Ready/Advance as doc.go prescribes, with a
// state machine, and a disk that loses unsynced writes when it crashes.
type simNode struct {
	c  *simCluster
	id uint64

	up bool
	// gen counts incarnations (restarts).
	gen int
	// removed: its removal was committed; decommissioned: stopped for
	// good.
	removed, decommissioned bool

	rn *raft.RawNode
	ms *raft.MemoryStorage
	// written mirrors ms; durable is what survives a crash: the writes up
	// to the last sync, plus (on a crash) a random prefix of pending.
	written, durable *simLog
	pending          []*simWrite
	// durableHS is the last HardState on durable storage, across
	// incarnations.
	durableHS eraftpb.HardState

	// The state machine: the applied index, the chain hash there, and the
	// configuration (from ApplyConfChange). It is volatile: a restart
	// rebuilds it from the durable snapshot and re-applies the log.
	smIndex, smHash uint64
	conf            eraftpb.ConfState

	// leaderChecked is the last term in which this node's leader
	// completeness was checked.
	leaderChecked uint64
	// wantSnapshot asks for a snapshot after the current Ready (a
	// membership change was applied: new nodes need a snapshot that lists
	// them).
	wantSnapshot bool
	// reports are snapshot outcomes and unreachable peers the transport
	// noticed while a Ready was being handled; they are given to the node
	// after Advance.
	reports []simReport
}

type simReport struct {
	to     uint64
	status raft.SnapshotStatus // 0: unreachable
}

// start brings the node up from its durable state: a new MemoryStorage and
// RawNode, and a state machine restored from the durable snapshot.
func (n *simNode) start() {
	c := n.c
	d := n.durable
	// MemoryStorage keeps no entries at or before its snapshot.
	if si := d.snapIndex(); si > d.offset {
		if err := d.compactTo(si); err != nil {
			failf("node %d restart: %v", n.id, err)
		}
	}
	n.written = d.clone()
	n.pending = nil
	n.ms = raft.NewMemoryStorage()
	n.smIndex, n.smHash, n.conf = 0, genesisHash, eraftpb.ConfState{}
	if !raft.IsEmptySnap(d.snap) {
		if err := n.ms.ApplySnapshot(d.snap); err != nil {
			failf("node %d restart: ApplySnapshot: %v", n.id, err)
		}
		n.smIndex, n.smHash = d.snapIndex(), d.snapHash
		n.conf = cloneConf(d.snap.Metadata.ConfState)
	}
	if len(d.ents) > 0 {
		if err := n.ms.Append(d.ents); err != nil {
			failf("node %d restart: Append: %v", n.id, err)
		}
	}
	if err := n.ms.SetHardState(d.hs); err != nil {
		failf("node %d restart: SetHardState: %v", n.id, err)
	}
	// The state machine is durable up to the snapshot; sometimes the
	// application does not say so and raft starts from the snapshot anyway.
	applied := n.smIndex
	if c.rng.IntN(3) == 0 {
		applied = 0
	}
	cfg := &raft.Config{
		ID:              n.id,
		ElectionTick:    c.p.electionTick,
		HeartbeatTick:   c.p.heartbeatTick,
		Storage:         n.ms,
		Applied:         applied,
		MaxSizePerMsg:   c.p.maxSizePerMsg,
		MaxInflightMsgs: c.p.maxInflight,
		CheckQuorum:     c.p.checkQuorum,
		PreVote:         c.p.preVote,
		LazyCommit:      c.p.lazyCommit,
		StartInLease:    c.p.leaseRead && n.gen > 0,
		Rand:            rand.New(rand.NewPCG(c.rng.Uint64(), c.rng.Uint64())),
	}
	if c.p.leaseRead {
		cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
	}
	if c.tracing {
		cfg.Logger = simLogger{c: c, id: n.id}
	}
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		failf("node %d restart: NewRawNode: %v (durable HardState %s, snapshot %d, entries (%d, %d])",
			n.id, err, raft.DescribeHardState(d.hs), d.snapIndex(), d.offset, d.lastIndex())
	}
	n.rn = rn
	n.up = true
	n.gen++
	n.leaderChecked = 0
	n.reports = nil
	c.tracef("node %d up (incarnation %d): %s snapshot=%d entries=(%d, %d] applied=%d",
		n.id, n.gen, raft.DescribeHardState(d.hs), d.snapIndex(), d.offset, d.lastIndex(), applied)
	n.observe()
}

// crash stops the node. Unsynced writes are lost, except a random prefix
// that the disk happened to flush.
func (n *simNode) crash() {
	c := n.c
	keep := c.rng.IntN(len(n.pending) + 1)
	for _, w := range n.pending[:keep] {
		n.makeDurable(w)
	}
	c.tracef("node %d crashes, %d of %d unsynced writes survive", n.id, keep, len(n.pending))
	n.pending = nil
	n.up = false
	n.rn, n.ms, n.written = nil, nil, nil
	n.reports = nil
	if n.removed {
		n.decommissioned = true
	}
	c.stats.crashes++
}

// sync makes every written state durable (fsync).
func (n *simNode) sync() {
	for _, w := range n.pending {
		n.makeDurable(w)
	}
	n.pending = n.pending[:0]
}

func (n *simNode) makeDurable(w *simWrite) {
	if err := n.durable.apply(w); err != nil {
		failf("node %d durable write: %v", n.id, err)
	}
	if w.hs != nil {
		checkHardState(n.id, "durable", n.durableHS, *w.hs)
		n.durableHS = *w.hs
	}
}

// write performs w on MemoryStorage and the written mirror; it becomes
// durable at the next sync.
func (n *simNode) write(w *simWrite) {
	if w.recvSnap != nil {
		if err := n.ms.ApplySnapshot(*w.recvSnap); err != nil {
			failf("node %d: ApplySnapshot %s: %v", n.id, raft.DescribeSnapshot(*w.recvSnap), err)
		}
	}
	if len(w.ents) > 0 {
		if err := n.ms.Append(w.ents); err != nil {
			failf("node %d: Append: %v", n.id, err)
		}
	}
	if w.hs != nil {
		if err := n.ms.SetHardState(*w.hs); err != nil {
			failf("node %d: SetHardState: %v", n.id, err)
		}
	}
	if err := n.written.apply(w); err != nil {
		failf("node %d written log: %v", n.id, err)
	}
	n.pending = append(n.pending, w)
}

// observe records the node's role after any call into raft (election
// safety is checked at every transition, not only at Ready time), and
// checks that only a voter of its own configuration campaigns or leads: a
// learner never does.
func (n *simNode) observe() {
	st := n.rn.Status()
	n.c.hist.observeRole(n.id, st.HardState.Term, st.SoftState.RaftState)
	if st.SoftState.RaftState != raft.StateFollower && !slices.Contains(n.conf.Voters, n.id) {
		failf("node %d is %s in term %d but not a voter of its configuration %s",
			n.id, st.SoftState.RaftState, st.HardState.Term, raft.DescribeConfState(n.conf))
	}
}

func (n *simNode) tick() {
	n.rn.Tick()
	n.observe()
}

// step delivers a message from the network.
func (n *simNode) step(m eraftpb.Message) {
	err := n.rn.Step(m)
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrProposalDropped):
		// A forwarded proposal that found no leader.
	case errors.Is(err, raft.ErrInvalidConfChange) && m.MsgType == eraftpb.MessageType_MsgPropose:
		// A forwarded conf change that the leader's configuration no
		// longer allows.
	case errors.Is(err, raft.ErrStepPeerNotFound):
		// A response from a node no longer (or not yet) in our
		// configuration.
	default:
		failf("node %d: Step(%s): %v", n.id, describeMsg(m), err)
	}
	n.observe()
}

// propose submits data as a client would; it reports whether raft took it.
func (n *simNode) propose(data []byte) bool {
	err := n.rn.Propose(data)
	n.c.tracef("node %d Propose %s: %v", n.id, shortData(data), err)
	if err != nil && !errors.Is(err, raft.ErrProposalDropped) {
		failf("node %d: Propose: %v", n.id, err)
	}
	n.observe()
	return err == nil
}

// handleReady handles every pending Ready in the order doc.go prescribes,
// checking the invariants as state is persisted and applied.
func (n *simNode) handleReady() {
	c := n.c
	for n.up && n.rn.HasReady() {
		rd := n.rn.Ready()
		if c.tracing {
			c.tracef("node %d Ready: %s", n.id, describeReady(rd))
		}

		// 1. Persist HardState, entries and snapshot.
		w := &simWrite{}
		var snapHash uint64
		if !raft.IsEmptySnap(rd.Snapshot) {
			s := rd.Snapshot
			idx, h, err := decodeSMSnapshot(s.Data)
			if err != nil || idx != s.Metadata.Index {
				failf("node %d received snapshot %s with bad data (index %d): %v", n.id, raft.DescribeSnapshot(s), idx, err)
			}
			if idx <= n.smIndex {
				failf("node %d was handed snapshot %d but has applied %d", n.id, idx, n.smIndex)
			}
			c.hist.checkSnapshotState(n.id, idx, h, "received")
			c.hist.registerEntry(n.id, idx, s.Metadata.Term, h)
			w.recvSnap, w.recvSnapHash, snapHash = &s, h, h
		}
		if len(rd.Entries) > 0 {
			w.ents = rd.Entries
			w.hashes = n.entryHashes(rd.Entries, w.recvSnap, snapHash)
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			hs := rd.HardState
			checkHardState(n.id, "written", n.written.hs, hs)
			c.hist.maxTerm = max(c.hist.maxTerm, hs.Term)
			w.hs = &hs
		}
		n.write(w)
		if rd.MustSync {
			n.sync()
		}

		// 2. Send messages.
		for _, m := range rd.Messages {
			c.net.send(n, m)
		}

		// 3. Apply the snapshot to the state machine.
		if w.recvSnap != nil {
			n.smIndex, n.smHash = w.recvSnap.Metadata.Index, snapHash
			n.conf = cloneConf(w.recvSnap.Metadata.ConfState)
		}

		// 4. Apply committed entries.
		for i := range rd.CommittedEntries {
			n.apply(&rd.CommittedEntries[i])
		}

		// 5. Serve reads.
		for _, rs := range rd.ReadStates {
			c.tracef("node %d ReadState %q index=%d", n.id, rs.RequestCtx, rs.Index)
			c.hist.checkRead(n.id, rs)
			c.stats.readsAnswered++
		}

		// 6. Advance.
		n.rn.Advance(rd)
		n.observe()
		n.flushReports()
	}
	if !n.up {
		return
	}
	st := n.rn.Status()
	if st.Applied != n.smIndex {
		failf("node %d: raft says applied %d, the state machine is at %d", n.id, st.Applied, n.smIndex)
	}
	if st.SoftState.RaftState == raft.StateLeader && st.HardState.Term > n.leaderChecked {
		n.leaderChecked = st.HardState.Term
		c.hist.checkLeaderCompleteness(n.id, st.HardState.Term, n.written)
	}
	if n.wantSnapshot {
		n.wantSnapshot = false
		n.snapshot(0)
	}
}

// entryHashes computes the chain hashes of entries about to be written and
// registers them for the log matching check.
func (n *simNode) entryHashes(ents []eraftpb.Entry, recvSnap *eraftpb.Snapshot, snapHash uint64) []uint64 {
	prev := ents[0].Index - 1
	var h uint64
	var ok bool
	if recvSnap != nil && prev == recvSnap.Metadata.Index {
		h, ok = snapHash, true
	} else if recvSnap == nil || prev > recvSnap.Metadata.Index {
		h, ok = n.written.hashAt(prev)
	}
	if !ok {
		failf("node %d was asked to append entries from %d, which does not follow its log (snapshot %d, entries (%d, %d])",
			n.id, ents[0].Index, n.written.snapIndex(), n.written.offset, n.written.lastIndex())
	}
	hashes := make([]uint64, len(ents))
	for i := range ents {
		if ents[i].Index != prev+1+uint64(i) {
			failf("node %d: Ready entries are not contiguous at %d", n.id, ents[i].Index)
		}
		h = chainHash(h, &ents[i])
		hashes[i] = h
		n.c.hist.registerEntry(n.id, ents[i].Index, ents[i].Term, h)
	}
	return hashes
}

// apply applies one committed entry to the state machine.
func (n *simNode) apply(e *eraftpb.Entry) {
	c := n.c
	if e.Index != n.smIndex+1 {
		failf("node %d: committed entry %d handed out after applied index %d", n.id, e.Index, n.smIndex)
	}
	h := chainHash(n.smHash, e)
	if wh, ok := n.written.hashAt(e.Index); !ok || wh != h {
		failf("node %d: committed entry %d/%d is not the entry in its own log (present: %t)", n.id, e.Term, e.Index, ok)
	}
	first := e.Index == c.hist.lastCommitted()+1
	c.hist.applied(n.id, e.Index, h)
	n.smIndex, n.smHash = e.Index, h
	if c.livePayload != "" && c.liveIndex == 0 && string(e.Data) == c.livePayload {
		c.liveIndex = e.Index
	}
	if e.EntryType != eraftpb.EntryType_EntryConfChange {
		return
	}
	var cc eraftpb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		failf("node %d: committed conf change %d does not unmarshal: %v", n.id, e.Index, err)
	}
	want := expectedConf(n.conf, cc)
	cs := n.rn.ApplyConfChange(cc)
	if !slices.Equal(cs.Voters, want.Voters) || !slices.Equal(cs.Learners, want.Learners) {
		failf("node %d: ApplyConfChange %s on %s returned %s, want %s", n.id, raft.DescribeConfChange(cc),
			raft.DescribeConfState(n.conf), raft.DescribeConfState(*cs), raft.DescribeConfState(want))
	}
	n.conf = cloneConf(cs)
	c.tracef("node %d applied conf change %s at %d: %s", n.id, raft.DescribeConfChange(cc), e.Index, raft.DescribeConfState(n.conf))
	if cc.ChangeType != eraftpb.ConfChangeType_RemoveNode {
		n.wantSnapshot = true
	}
	if first {
		c.committedConfChange(cc)
	}
}

// expectedConf is the single-step membership change rule, written
// independently of the library: add or remove one voter or learner; adding
// a learner as voter promotes it; a voter is never demoted to learner;
// adding a member twice or removing an absent one changes nothing; the
// last voter stays.
func expectedConf(cs eraftpb.ConfState, cc eraftpb.ConfChange) eraftpb.ConfState {
	voters, learners := slices.Clone(cs.Voters), slices.Clone(cs.Learners)
	isVoter, isLearner := slices.Contains(voters, cc.NodeId), slices.Contains(learners, cc.NodeId)
	without := func(ids []uint64, id uint64) []uint64 {
		return slices.DeleteFunc(ids, func(x uint64) bool { return x == id })
	}
	switch cc.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		learners = without(learners, cc.NodeId)
		if !isVoter {
			voters = append(voters, cc.NodeId)
		}
	case eraftpb.ConfChangeType_AddLearnerNode:
		if !isVoter && !isLearner {
			learners = append(learners, cc.NodeId)
		}
	case eraftpb.ConfChangeType_RemoveNode:
		if isVoter && len(voters) > 1 {
			voters = without(voters, cc.NodeId)
		}
		learners = without(learners, cc.NodeId)
	}
	slices.Sort(voters)
	slices.Sort(learners)
	if len(learners) == 0 {
		learners = nil
	}
	return eraftpb.ConfState{Voters: voters, Learners: learners}
}

func cloneConf(cs *eraftpb.ConfState) eraftpb.ConfState {
	if cs == nil {
		return eraftpb.ConfState{}
	}
	out := eraftpb.ConfState{Voters: slices.Clone(cs.Voters)}
	if len(cs.Learners) > 0 {
		out.Learners = slices.Clone(cs.Learners)
	}
	return out
}

// snapshot snapshots the state machine at its applied index and compacts
// the log up to keep entries before it, as an application does for log
// compaction (Raft paper §7). The snapshot is synced.
func (n *simNode) snapshot(keep uint64) {
	c := n.c
	i := n.smIndex
	if i <= n.written.snapIndex() {
		return
	}
	conf := cloneConf(&n.conf)
	snap, err := n.ms.CreateSnapshot(i, &conf, smSnapshotData(i, n.smHash))
	if err != nil {
		failf("node %d: CreateSnapshot(%d): %v", n.id, i, err)
	}
	w := &simWrite{createSnap: &snap, createSnapHash: n.smHash}
	if compact := i - keep; compact > n.written.offset {
		if err := n.ms.Compact(compact); err != nil {
			failf("node %d: Compact(%d): %v", n.id, compact, err)
		}
		w.compact = compact
	}
	if err := n.written.apply(w); err != nil {
		failf("node %d written log: %v", n.id, err)
	}
	n.pending = append(n.pending, w)
	n.sync()
	c.stats.snapshots++
	c.tracef("node %d snapshot at %d, compacted to %d, %s", n.id, i, w.compact, raft.DescribeConfState(conf))
}

func (n *simNode) flushReports() {
	for len(n.reports) > 0 && n.up {
		r := n.reports[0]
		n.reports = n.reports[1:]
		if r.status == 0 {
			n.rn.ReportUnreachable(r.to)
		} else {
			n.rn.ReportSnapshot(r.to, r.status)
		}
		n.observe()
	}
}

func describeReady(rd raft.Ready) string {
	s := raft.DescribeReady(rd, shortData)
	return fmt.Sprintf("%q", s)
}

// simLogger routes raft's log lines into the trace.
type simLogger struct {
	c  *simCluster
	id uint64
}

func (l simLogger) Debugf(format string, args ...any) {}
func (l simLogger) Infof(format string, args ...any) {
	l.c.tracef("  raft %d: "+format, append([]any{l.id}, args...)...)
}
func (l simLogger) Warnf(format string, args ...any)  { l.Infof(format, args...) }
func (l simLogger) Errorf(format string, args ...any) { l.Infof(format, args...) }
