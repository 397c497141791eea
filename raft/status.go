package raft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// BasicStatus is the part of Status that costs no allocation: what a
// caller needs on every proposal.
type BasicStatus struct {
	ID        uint64
	HardState eraftpb.HardState
	SoftState SoftState
	Applied   uint64
	// LastIndex is the index of the last entry in the node's log (stable
	// or not). On a leader every accepted proposal lands right after it.
	LastIndex      uint64
	LeadTransferee uint64
}

// Status is a snapshot of a node's state, for monitoring and tests.
type Status struct {
	BasicStatus
	// Progress is a copy of the leader's view of each voter; nil on
	// non-leaders.
	Progress map[uint64]tracker.Progress
}

func getBasicStatus(r *raft) BasicStatus {
	return BasicStatus{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LastIndex:      r.raftLog.lastIndex(),
		LeadTransferee: r.leadTransferee,
	}
}

func getStatus(r *raft) Status {
	s := Status{BasicStatus: getBasicStatus(r)}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]tracker.Progress, len(r.trk.Progress))
		r.trk.Visit(func(id uint64, pr *tracker.Progress) {
			p := *pr
			p.Inflights = pr.Inflights.Clone()
			s.Progress[id] = p
		})
	}
	return s
}

// String renders the status over several lines, progress sorted by ID.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id=%d %s %s applied=%d", s.ID, DescribeSoftState(s.SoftState), DescribeHardState(s.HardState), s.Applied)
	if s.LeadTransferee != None {
		fmt.Fprintf(&b, " transferee=%d", s.LeadTransferee)
	}
	b.WriteByte('\n')
	ids := make([]uint64, 0, len(s.Progress))
	for id := range s.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "%d: %s\n", id, s.Progress[id])
	}
	return b.String()
}
