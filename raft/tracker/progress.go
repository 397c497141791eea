package tracker

import (
	"fmt"
	"strings"
)

// StateType is the replication state of one follower, as the leader sees it.
//
//	StateProbe      the leader does not know the follower's match index; it
//	                sends at most one MsgApp per heartbeat interval and walks
//	                Next back using reject hints.
//	StateReplicate  the follower is known to match; the leader streams MsgApp
//	                optimistically, bounded by the Inflights window.
//	StateSnapshot   the follower needs entries the leader compacted; the
//	                leader sends nothing until the snapshot is reported.
type StateType uint8

const (
	StateProbe StateType = iota
	StateReplicate
	StateSnapshot
)

var stateNames = [...]string{"StateProbe", "StateReplicate", "StateSnapshot"}

func (st StateType) String() string { return stateNames[st] }

// Progress is the leader's view of one follower.
//
// Invariant: Match < Next. Entries up to Match are known to be in the
// follower's log; Next is the first index the leader will send.
type Progress struct {
	Match, Next uint64
	State       StateType

	// PendingSnapshot is the index of the snapshot being sent, in
	// StateSnapshot; zero otherwise.
	PendingSnapshot uint64

	// RecentActive is set whenever the follower answers and cleared by the
	// leader at each check-quorum interval.
	RecentActive bool

	// ProbeSent pauses a follower in StateProbe after one MsgApp until it
	// answers (or a heartbeat response arrives).
	ProbeSent bool

	// Inflights bounds the MsgApp messages outstanding in StateReplicate.
	Inflights *Inflights

	// IsLearner is set for learners: they are replicated to like voters
	// but never counted in a quorum.
	IsLearner bool
}

// resetState switches to state, clearing the per-state fields.
func (pr *Progress) resetState(state StateType) {
	pr.ProbeSent = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.Inflights.Reset()
}

// BecomeProbe moves the follower to StateProbe. Coming from StateSnapshot,
// the next probe starts after the snapshot that was sent (it was either
// applied or the follower will reject and the hint moves us back).
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.resetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.resetState(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate moves the follower to StateReplicate.
func (pr *Progress) BecomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot moves the follower to StateSnapshot while a snapshot at
// snapIndex is in transit.
func (pr *Progress) BecomeSnapshot(snapIndex uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = snapIndex
	pr.Next = snapIndex + 1
}

// SentEntries updates the progress after a MsgApp carrying entries up to
// lastIndex (n entries) was sent.
func (pr *Progress) SentEntries(n int, lastIndex uint64) {
	switch pr.State {
	case StateReplicate:
		if n > 0 {
			pr.Next = lastIndex + 1
			pr.Inflights.Add(lastIndex)
		}
	case StateProbe:
		pr.ProbeSent = true
	default:
		panic(fmt.Sprintf("tracker: sending append in state %s", pr.State))
	}
}

// MaybeUpdate records an acknowledgement up to n. It returns false if the
// acknowledgement is stale (n <= Match).
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.ProbeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// MaybeDecrTo handles a rejected MsgApp whose preceding index was rejected.
// matchHint is the leader's best guess, from the follower's reject hint, of
// the largest index that may match. It returns false if the rejection is
// stale (it answers an older message and says nothing new).
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// In replicate state a rejection of anything at or below Match is a
		// duplicate; otherwise fall back to probing just after Match.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe state only the answer to the latest probe counts.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.ProbeSent = false
	return true
}

// IsPaused reports whether the leader should hold back MsgApp to this
// follower. Heartbeats are sent regardless.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.ProbeSent
	case StateReplicate:
		return pr.Inflights.Full()
	case StateSnapshot:
		return true
	}
	panic("tracker: unexpected state")
}

func (pr Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.State == StateSnapshot {
		fmt.Fprintf(&b, " pending-snap=%d", pr.PendingSnapshot)
	}
	if pr.IsLearner {
		b.WriteString(" learner")
	}
	if !pr.RecentActive {
		b.WriteString(" inactive")
	}
	if pr.ProbeSent {
		b.WriteString(" paused")
	}
	if n := pr.Inflights.Count(); n > 0 {
		fmt.Fprintf(&b, " inflight=%d", n)
		if pr.Inflights.Full() {
			b.WriteString("[full]")
		}
	}
	return b.String()
}
