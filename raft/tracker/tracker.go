// Package tracker holds the leader's bookkeeping: the voter configuration,
// per-follower Progress and the votes of an election. Quorum arithmetic lives
// here so the raft package only asks questions ("what is committed?", "did we
// win?").
//
// regionkv uses single-step membership changes (Raft paper §6 / thesis
// §4.1): a configuration is one majority set of voters, plus learners.
// Joint consensus is not supported.
//
// Learners (thesis §4.2.1, "catching up new servers") receive the log like
// voters but never count: not in the commit quorum, not in elections (they
// do not campaign, and their votes are not tallied), not in check-quorum or
// ReadIndex confirmations. A new member joins as a learner, catches up, and
// is then promoted to voter by a second change, so that the quorum never
// includes a member that cannot yet acknowledge entries. A voter cannot be
// demoted to learner.
package tracker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// VoteResult is the outcome of an election as far as it is known.
type VoteResult uint8

const (
	// VotePending means neither a quorum of grants nor of rejections yet.
	VotePending VoteResult = iota + 1
	// VoteLost means a quorum rejected.
	VoteLost
	// VoteWon means a quorum granted.
	VoteWon
)

func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return fmt.Sprintf("VoteResult(%d)", uint8(v))
}

// ProgressTracker tracks the voters and learners, their Progress and the
// current votes.
type ProgressTracker struct {
	// voters and learners are sorted ascending so that iteration (and
	// therefore message order) is deterministic. Invariant: disjoint.
	voters   []uint64
	learners []uint64
	Progress map[uint64]*Progress // voters' and learners'
	Votes    map[uint64]bool

	MaxInflight int
}

// MakeProgressTracker returns an empty tracker.
func MakeProgressTracker(maxInflight int) ProgressTracker {
	return ProgressTracker{
		Progress:    map[uint64]*Progress{},
		Votes:       map[uint64]bool{},
		MaxInflight: maxInflight,
	}
}

// Voters returns the voter IDs in ascending order. The caller must not modify
// the slice.
func (t *ProgressTracker) Voters() []uint64 { return t.voters }

// Learners returns the learner IDs in ascending order. The caller must not
// modify the slice.
func (t *ProgressTracker) Learners() []uint64 { return t.learners }

// IsVoter reports whether id is a voter.
func (t *ProgressTracker) IsVoter(id uint64) bool {
	_, ok := slices.BinarySearch(t.voters, id)
	return ok
}

// IsLearner reports whether id is a learner.
func (t *ProgressTracker) IsLearner(id uint64) bool {
	_, ok := slices.BinarySearch(t.learners, id)
	return ok
}

// IsSingleton reports whether the configuration has exactly one voter.
func (t *ProgressTracker) IsSingleton() bool { return len(t.voters) == 1 }

// ConfState returns the configuration as a ConfState.
func (t *ProgressTracker) ConfState() eraftpb.ConfState {
	return eraftpb.ConfState{Voters: slices.Clone(t.voters), Learners: slices.Clone(t.learners)}
}

// Visit calls f for every tracked peer, voters and learners, in ascending
// ID order: everyone the leader replicates to.
func (t *ProgressTracker) Visit(f func(id uint64, pr *Progress)) {
	i, j := 0, 0
	for i < len(t.voters) || j < len(t.learners) {
		var id uint64
		if j == len(t.learners) || (i < len(t.voters) && t.voters[i] < t.learners[j]) {
			id, i = t.voters[i], i+1
		} else {
			id, j = t.learners[j], j+1
		}
		f(id, t.Progress[id])
	}
}

// VisitVoters calls f for every voter in ascending ID order.
func (t *ProgressTracker) VisitVoters(f func(id uint64, pr *Progress)) {
	for _, id := range t.voters {
		f(id, t.Progress[id])
	}
}

// quorum returns the size of a majority of the voters.
func (t *ProgressTracker) quorum() int { return len(t.voters)/2 + 1 }

// Committed returns the largest index that a quorum of voters has matched
// (Raft paper §5.3). The caller still has to check the term (§5.4.2).
func (t *ProgressTracker) Committed() uint64 { return t.CommittedCapped(0, 0) }

// CommittedCapped is Committed with voter self's match counted as at most
// selfMax (self 0: no cap): what a quorum holds without self's entries past
// selfMax.
func (t *ProgressTracker) CommittedCapped(self, selfMax uint64) uint64 {
	n := len(t.voters)
	if n == 0 {
		// No voters: nothing can be committed through replication.
		return 0
	}
	var stack [7]uint64
	var matched []uint64
	if n <= len(stack) {
		matched = stack[:n]
	} else {
		matched = make([]uint64, n)
	}
	for i, id := range t.voters {
		matched[i] = t.Progress[id].Match
		if id == self && self != 0 {
			matched[i] = min(matched[i], selfMax)
		}
	}
	slices.Sort(matched)
	// With matched sorted ascending, the quorum()-th largest value is
	// replicated on at least quorum() voters.
	return matched[n-t.quorum()]
}

// QuorumActive reports whether a quorum of voters was recently active.
func (t *ProgressTracker) QuorumActive() bool {
	active := 0
	for _, id := range t.voters {
		if t.Progress[id].RecentActive {
			active++
		}
	}
	return active >= t.quorum()
}

// ResetVotes forgets the votes of the last election.
func (t *ProgressTracker) ResetVotes() { clear(t.Votes) }

// RecordVote records id's vote, ignoring repeats (the first answer counts).
func (t *ProgressTracker) RecordVote(id uint64, granted bool) {
	if _, ok := t.Votes[id]; !ok {
		t.Votes[id] = granted
	}
}

// TallyVotes counts the recorded votes of voters.
func (t *ProgressTracker) TallyVotes() (granted, rejected int, result VoteResult) {
	for _, id := range t.voters {
		v, ok := t.Votes[id]
		if !ok {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	return granted, rejected, t.VoteResult(t.Votes)
}

// VoteResult evaluates a set of yes/no answers (absent means unknown) against
// the voters. It is also used to count ReadIndex heartbeat acks.
func (t *ProgressTracker) VoteResult(votes map[uint64]bool) VoteResult {
	if len(t.voters) == 0 {
		// An empty configuration wins trivially, like an empty quorum.
		return VoteWon
	}
	granted, missing := 0, 0
	for _, id := range t.voters {
		v, ok := votes[id]
		if !ok {
			missing++
		} else if v {
			granted++
		}
	}
	q := t.quorum()
	switch {
	case granted >= q:
		return VoteWon
	case granted+missing >= q:
		return VotePending
	default:
		return VoteLost
	}
}

// ApplyConfChange validates a single-step change against the current
// configuration and returns the new voters and learners. It does not modify
// t; the caller installs the result with SetConfig.
//
//   - AddNode adds a voter, or promotes a learner to voter.
//   - AddLearnerNode adds a learner; a voter cannot be demoted.
//   - RemoveNode removes a voter or a learner, never the last voter.
//
// Adding an existing member in the same role or removing an absent one is
// a no-op, not an error, because a change may be applied more than once
// across restarts.
func (t *ProgressTracker) ApplyConfChange(cc eraftpb.ConfChange) (voters, learners []uint64, err error) {
	voters, learners = slices.Clone(t.voters), slices.Clone(t.learners)
	if cc.NodeId == 0 && cc.ChangeType != eraftpb.ConfChangeType_RemoveNode {
		return nil, nil, fmt.Errorf("tracker: cannot add node 0")
	}
	vi, isVoter := slices.BinarySearch(voters, cc.NodeId)
	li, isLearner := slices.BinarySearch(learners, cc.NodeId)
	switch cc.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		if isLearner {
			learners = slices.Delete(learners, li, li+1)
		}
		if !isVoter {
			voters = slices.Insert(voters, vi, cc.NodeId)
		}
	case eraftpb.ConfChangeType_AddLearnerNode:
		if isVoter {
			return nil, nil, fmt.Errorf("tracker: cannot demote voter %d to learner", cc.NodeId)
		}
		if !isLearner {
			learners = slices.Insert(learners, li, cc.NodeId)
		}
	case eraftpb.ConfChangeType_RemoveNode:
		if isVoter {
			if len(voters) == 1 {
				return nil, nil, fmt.Errorf("tracker: cannot remove the last voter %d", cc.NodeId)
			}
			voters = slices.Delete(voters, vi, vi+1)
		}
		if isLearner {
			learners = slices.Delete(learners, li, li+1)
		}
	default:
		return nil, nil, fmt.Errorf("tracker: unsupported conf change type %s", cc.ChangeType)
	}
	return voters, learners, nil
}

// SetConfig installs a configuration. Progress of removed members is
// dropped; a promoted learner keeps its Progress (its log is already
// there); new members get a Progress from newProgress. A member listed as
// both voter and learner is a voter.
func (t *ProgressTracker) SetConfig(voters, learners []uint64, newProgress func(id uint64) *Progress) {
	voters = slices.Compact(slices.Sorted(slices.Values(voters)))
	learners = slices.Compact(slices.Sorted(slices.Values(learners)))
	learners = slices.DeleteFunc(learners, func(id uint64) bool {
		_, ok := slices.BinarySearch(voters, id)
		return ok
	})
	t.voters, t.learners = voters, learners
	member := func(id uint64) (tracked, learner bool) {
		if _, ok := slices.BinarySearch(voters, id); ok {
			return true, false
		}
		_, ok := slices.BinarySearch(learners, id)
		return ok, ok
	}
	for id := range t.Progress {
		if tracked, _ := member(id); !tracked {
			delete(t.Progress, id)
			delete(t.Votes, id)
		}
	}
	t.Visit(func(id uint64, pr *Progress) {
		if pr == nil {
			pr = newProgress(id)
			t.Progress[id] = pr
		}
		_, pr.IsLearner = member(id)
	})
}

// SetVoters installs a configuration of voters only (no learners).
func (t *ProgressTracker) SetVoters(voters []uint64, newProgress func(id uint64) *Progress) {
	t.SetConfig(voters, nil, newProgress)
}

// String prints one line per member, for tests and debugging.
func (t *ProgressTracker) String() string {
	var b strings.Builder
	t.Visit(func(id uint64, pr *Progress) {
		fmt.Fprintf(&b, "%d: %s\n", id, pr)
	})
	return b.String()
}
