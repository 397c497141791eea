// Package tracker holds the leader's bookkeeping: the voter configuration,
// per-follower Progress and the votes of an election. Quorum arithmetic lives
// here so the raft package only asks questions ("what is committed?", "did we
// win?").
//
// regionkv uses single-step membership changes (Raft paper §6 / thesis
// §4.1): a configuration is one majority set of voters. Learners and joint
// consensus are not supported.
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

// ProgressTracker tracks the voters, their Progress and the current votes.
type ProgressTracker struct {
	// voters is sorted ascending so that iteration (and therefore message
	// order) is deterministic.
	voters   []uint64
	Progress map[uint64]*Progress
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

// IsVoter reports whether id is a voter.
func (t *ProgressTracker) IsVoter(id uint64) bool {
	_, ok := slices.BinarySearch(t.voters, id)
	return ok
}

// IsSingleton reports whether the configuration has exactly one voter.
func (t *ProgressTracker) IsSingleton() bool { return len(t.voters) == 1 }

// ConfState returns the configuration as a ConfState.
func (t *ProgressTracker) ConfState() eraftpb.ConfState {
	return eraftpb.ConfState{Voters: slices.Clone(t.voters)}
}

// Visit calls f for every tracked peer in ascending ID order.
func (t *ProgressTracker) Visit(f func(id uint64, pr *Progress)) {
	for _, id := range t.voters {
		f(id, t.Progress[id])
	}
}

// quorum returns the size of a majority of the voters.
func (t *ProgressTracker) quorum() int { return len(t.voters)/2 + 1 }

// Committed returns the largest index that a quorum of voters has matched
// (Raft paper §5.3). The caller still has to check the term (§5.4.2).
func (t *ProgressTracker) Committed() uint64 {
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

// ApplyConfChange validates a single-step change against the current voters
// and returns the new voter set. It does not modify t; the caller installs the
// result with SetVoters. Adding an existing voter or removing an absent one is
// a no-op, not an error, because a change may be applied more than once
// across restarts.
func (t *ProgressTracker) ApplyConfChange(cc eraftpb.ConfChange) ([]uint64, error) {
	voters := slices.Clone(t.voters)
	switch cc.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		if cc.NodeId == 0 {
			return nil, fmt.Errorf("tracker: cannot add node 0")
		}
		if i, ok := slices.BinarySearch(voters, cc.NodeId); !ok {
			voters = slices.Insert(voters, i, cc.NodeId)
		}
	case eraftpb.ConfChangeType_RemoveNode:
		if i, ok := slices.BinarySearch(voters, cc.NodeId); ok {
			if len(voters) == 1 {
				return nil, fmt.Errorf("tracker: cannot remove the last voter %d", cc.NodeId)
			}
			voters = slices.Delete(voters, i, i+1)
		}
	default:
		return nil, fmt.Errorf("tracker: unsupported conf change type %s", cc.ChangeType)
	}
	return voters, nil
}

// SetVoters installs a voter set. Progress of removed voters is dropped; new
// voters get a Progress from newProgress.
func (t *ProgressTracker) SetVoters(voters []uint64, newProgress func(id uint64) *Progress) {
	voters = slices.Clone(voters)
	slices.Sort(voters)
	voters = slices.Compact(voters)
	t.voters = voters
	for id := range t.Progress {
		if _, ok := slices.BinarySearch(voters, id); !ok {
			delete(t.Progress, id)
			delete(t.Votes, id)
		}
	}
	for _, id := range voters {
		if _, ok := t.Progress[id]; !ok {
			t.Progress[id] = newProgress(id)
		}
	}
}

// String prints one line per voter, for tests and debugging.
func (t *ProgressTracker) String() string {
	var b strings.Builder
	t.Visit(func(id uint64, pr *Progress) {
		fmt.Fprintf(&b, "%d: %s\n", id, pr)
	})
	return b.String()
}
