package raft_test

import (
	"fmt"
	"sort"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// simFailure is how an invariant check aborts a run: the runner recovers it
// and reports it with the seed and the step.
type simFailure struct{ msg string }

func failf(format string, args ...any) {
	panic(simFailure{msg: fmt.Sprintf(format, args...)})
}

type entryKey struct{ index, term uint64 }

// simHistory is the global record the invariants are checked against. It
// only ever grows: it remembers every leader, every entry and every applied
// index since the start of the run, including those of crashed nodes.
type simHistory struct {
	// leaders maps each term to the one node seen leading it (election
	// safety, Raft paper §5.2).
	leaders map[uint64]uint64
	// entries maps every (index, term) ever written by any node to the
	// chain hash of the log up to it (log matching, §5.3).
	entries map[entryKey]uint64
	// committed[i] is the chain hash of the state machine after applying
	// index i, the same on every node that applied i (state machine
	// safety, §5.4.3). Index 0 is the empty log, index 1 the bootstrap
	// snapshot. An index joins when the first node applies it, so
	// len(committed)-1 is a lower bound of the commit index.
	committed []uint64
	// leaderTermFloor[i]: every leader of this term or later must hold
	// index i (leader completeness, §5.4). It is one more than the largest
	// term any node had when i was first applied, which is at least the
	// term of the leader that committed i.
	leaderTermFloor []uint64
	// maxTerm is the largest term any node has had.
	maxTerm uint64
	// reads maps the context of each ReadIndex request to the committed
	// index when it was issued: its answer must not be lower
	// (linearizable reads, thesis §6.4).
	reads map[string]uint64
}

func newSimHistory(voters []uint64) *simHistory {
	return &simHistory{
		leaders:         map[uint64]uint64{},
		entries:         map[entryKey]uint64{{0, 0}: genesisHash, {1, 1}: bootstrapHash(voters)},
		committed:       []uint64{genesisHash, bootstrapHash(voters)},
		leaderTermFloor: []uint64{0, 0},
		reads:           map[string]uint64{},
	}
}

func (h *simHistory) lastCommitted() uint64 { return uint64(len(h.committed) - 1) }

// observeRole records what node id reports about itself.
func (h *simHistory) observeRole(id, term uint64, state raft.StateType) {
	h.maxTerm = max(h.maxTerm, term)
	if state != raft.StateLeader {
		return
	}
	if prev, ok := h.leaders[term]; ok && prev != id {
		failf("election safety: nodes %d and %d are both leaders of term %d", prev, id, term)
	}
	h.leaders[term] = id
}

// registerEntry checks a written entry (or snapshot point) against every
// other log that ever held the same index and term.
func (h *simHistory) registerEntry(node, index, term, hash uint64) {
	k := entryKey{index, term}
	if prev, ok := h.entries[k]; ok {
		if prev != hash {
			failf("log matching: node %d wrote index %d term %d with a log prefix (hash %x) that differs from another log's (hash %x)",
				node, index, term, hash, prev)
		}
		return
	}
	h.entries[k] = hash
}

// applied records that node applied index i reaching state-machine hash
// hash.
func (h *simHistory) applied(node, i, hash uint64) {
	switch n := uint64(len(h.committed)); {
	case i < n:
		if h.committed[i] != hash {
			failf("state machine safety: node %d applied index %d with state hash %x, another node had %x",
				node, i, hash, h.committed[i])
		}
	case i == n:
		h.committed = append(h.committed, hash)
		h.leaderTermFloor = append(h.leaderTermFloor, h.maxTerm+1)
	default:
		failf("state machine safety: node %d applied index %d but nothing was applied anywhere past %d", node, i, n-1)
	}
}

// checkSnapshotState checks a state machine restored from a snapshot.
func (h *simHistory) checkSnapshotState(node, index, hash uint64, what string) {
	if index >= uint64(len(h.committed)) {
		failf("state machine safety: node %d %s a snapshot at index %d, but nothing was applied anywhere past %d",
			node, what, index, h.lastCommitted())
	}
	if h.committed[index] != hash {
		failf("state machine safety: node %d %s a snapshot at index %d with state hash %x, applied state there is %x",
			node, what, index, hash, h.committed[index])
	}
}

// checkLeaderCompleteness checks that a leader of term holds every entry
// that was committed in an earlier term. log is the leader's whole log
// (nothing unstable: its Ready was just handled).
func (h *simHistory) checkLeaderCompleteness(node, term uint64, log *simLog) {
	// leaderTermFloor is non-decreasing: find the last index it covers.
	n := sort.Search(len(h.leaderTermFloor), func(i int) bool { return h.leaderTermFloor[i] > term })
	i := uint64(n - 1)
	if i <= 1 {
		return
	}
	if !log.covers(i, h.committed) {
		t, _ := log.termAt(i)
		failf("leader completeness: node %d leads term %d but lacks committed index %d (its log: snapshot %d, entries (%d, %d], term at %d: %d)",
			node, term, i, log.snapIndex(), log.offset, log.lastIndex(), i, t)
	}
}

// checkDurableMajority checks that the last applied index (and so, by the
// chain, everything before it) survives a crash of every node: a majority
// holds it on durable storage. Only for a fixed membership.
func (h *simHistory) checkDurableMajority(nodes []*simNode) {
	i := h.lastCommitted()
	have := 0
	for _, n := range nodes {
		if n.durable.covers(i, h.committed) {
			have++
		}
	}
	if have < len(nodes)/2+1 {
		failf("durability: committed index %d is on the durable storage of only %d of %d nodes", i, have, len(nodes))
	}
}

// checkHardState checks a HardState transition of one node, in memory or on
// durable storage (where prev is what the last incarnation left).
func checkHardState(node uint64, where string, prev, next eraftpb.HardState) {
	if next.Term < prev.Term {
		failf("%s HardState of node %d: term went back from %d to %d", where, node, prev.Term, next.Term)
	}
	if next.Term == prev.Term && prev.Vote != raft.None && next.Vote != prev.Vote {
		failf("%s HardState of node %d: voted for %d and then %d in term %d", where, node, prev.Vote, next.Vote, next.Term)
	}
	if next.Commit < prev.Commit {
		failf("%s HardState of node %d: commit went back from %d to %d", where, node, prev.Commit, next.Commit)
	}
}

// checkRead checks the answer to a ReadIndex request.
func (h *simHistory) checkRead(node uint64, rs raft.ReadState) {
	floor, ok := h.reads[string(rs.RequestCtx)]
	if !ok {
		failf("read index: node %d got an answer for unknown request %q", node, rs.RequestCtx)
	}
	if rs.Index < floor {
		failf("read index: node %d got index %d for request %q, but index %d was applied before the request was issued",
			node, rs.Index, rs.RequestCtx, floor)
	}
}
