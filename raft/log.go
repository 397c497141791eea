package raft

import (
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// raftLog is the node's view of the replicated log: a stable prefix in
// Storage followed by the unstable suffix not yet persisted.
//
//	snapshot/compacted | storage (stable)      | unstable
//	... firstIndex()-1 | firstIndex() ...      | unstable.offset ... lastIndex()
type raftLog struct {
	storage  Storage
	unstable unstable

	// committed is the highest index known to be stored on a quorum.
	// Invariant: applied <= committed <= lastIndex().
	committed uint64
	// applied is the highest index the application has applied, as told
	// through Advance. Invariant: applied <= committed.
	applied uint64

	// maxNextEntsSize bounds the bytes of CommittedEntries in one Ready.
	maxNextEntsSize uint64

	logger Logger
}

// newLog returns a log recovered from storage: committed and applied start at
// the snapshot index (HardState.Commit is applied by the caller).
func newLog(storage Storage, logger Logger, maxNextEntsSize uint64) *raftLog {
	firstIndex, err := storage.FirstIndex()
	mustStorage(err)
	lastIndex, err := storage.LastIndex()
	mustStorage(err)
	return &raftLog{
		storage:         storage,
		unstable:        unstable{offset: lastIndex + 1, logger: logger},
		committed:       firstIndex - 1,
		applied:         firstIndex - 1,
		maxNextEntsSize: maxNextEntsSize,
		logger:          logger,
	}
}

// mustStorage panics on a storage error that is not one of the handled
// sentinels: broken stable storage is not a condition raft can work around.
func mustStorage(err error) {
	if err != nil {
		panic(fmt.Sprintf("raft: storage failed: %v", err))
	}
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applied=%d unstable.offset=%d len(unstable.entries)=%d",
		l.committed, l.applied, l.unstable.offset, len(l.unstable.entries))
}

// maybeAppend appends ents after (index, logTerm) if the log matches there
// (Raft paper §5.3, the AppendEntries consistency check), truncating any
// conflicting suffix, and advances the commit index to min(committed, last
// new index). It returns the last index of the appended range and whether
// the log matched.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []eraftpb.Entry) (lastNewIndex uint64, ok bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNewIndex = index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
		// Everything already present.
	case ci <= l.committed:
		panic(fmt.Sprintf("raft: entry %d conflicts with committed entry [committed(%d)]", ci, l.committed))
	default:
		l.append(ents[ci-(index+1):]...)
	}
	// Entries past lastNewIndex may be stale leftovers of an older leader,
	// so only the range the leader vouched for can be committed.
	l.commitTo(min(committed, lastNewIndex))
	return lastNewIndex, true
}

// append appends entries unconditionally, truncating any suffix they replace.
func (l *raftLog) append(ents ...eraftpb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: after(%d) is out of range [committed(%d)]", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that is not in
// the log with the same term, or 0 if every entry is present. By the Log
// Matching Property, the first mismatch is where the logs diverge.
func (l *raftLog) findConflict(ents []eraftpb.Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			if ents[i].Index <= l.lastIndex() {
				l.logger.Infof("found conflict index=%d existing-term=%d conflicting-term=%d",
					ents[i].Index, l.zeroTermOnOutOfBounds(l.term(ents[i].Index)), ents[i].Term)
			}
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <= term,
// with that term. It powers fast backtracking: a follower rejecting a MsgApp
// tells the leader where the logs may match, skipping a whole term of
// mismatched entries per round trip instead of one entry. If the search runs
// into the compacted prefix it returns the first unknown index.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// unstableEntries returns the entries not yet persisted.
func (l *raftLog) unstableEntries() []eraftpb.Entry {
	if len(l.unstable.entries) == 0 {
		return nil
	}
	return l.unstable.entries
}

// nextEnts returns the committed entries not yet applied, bounded by
// maxNextEntsSize.
func (l *raftLog) nextEnts() []eraftpb.Entry {
	off := max(l.applied+1, l.firstIndex())
	if l.committed+1 <= off {
		return nil
	}
	ents, err := l.slice(off, l.committed+1, l.maxNextEntsSize)
	if err != nil {
		panic(fmt.Sprintf("raft: unexpected error when getting unapplied entries: %v", err))
	}
	return ents
}

// hasNextEnts reports whether there are committed entries to apply.
func (l *raftLog) hasNextEnts() bool {
	return l.committed+1 > max(l.applied+1, l.firstIndex())
}

// hasPendingSnapshot reports whether a received snapshot awaits persistence.
func (l *raftLog) hasPendingSnapshot() bool {
	return l.unstable.snapshot != nil && !IsEmptySnap(*l.unstable.snapshot)
}

// snapshot returns the pending snapshot, or the stored one.
func (l *raftLog) snapshot() (eraftpb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	index, err := l.storage.FirstIndex()
	mustStorage(err)
	return index
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	mustStorage(err)
	return i
}

// commitTo advances the commit index. It never moves backwards.
func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed < tocommit {
		if l.lastIndex() < tocommit {
			panic(fmt.Sprintf("raft: tocommit(%d) is out of range [lastIndex(%d)]; was the raft log corrupted, truncated, or lost?",
				tocommit, l.lastIndex()))
		}
		l.committed = tocommit
	}
}

// appliedTo records that the application applied entries up to i.
func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		panic(fmt.Sprintf("raft: applied(%d) is out of range [prevApplied(%d), committed(%d)]", i, l.applied, l.committed))
	}
	l.applied = i
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: unexpected error when getting the last term: %v", err))
	}
	return t
}

// term returns the term of entry i. Indexes outside
// [firstIndex()-1, lastIndex()] return ErrCompacted or ErrUnavailable.
func (l *raftLog) term(i uint64) (uint64, error) {
	// The valid range includes the dummy entry at firstIndex()-1.
	dummy := l.firstIndex() - 1
	if i < dummy {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	t, err := l.storage.Term(i)
	if err == nil {
		return t, nil
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0, err
	}
	panic(fmt.Sprintf("raft: storage failed: %v", err))
}

// entries returns entries from i to the end, bounded by maxSize.
func (l *raftLog) entries(i, maxSize uint64) ([]eraftpb.Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// allEntries returns every available entry. For tests.
func (l *raftLog) allEntries() []eraftpb.Entry {
	ents, err := l.entries(l.firstIndex(), noLimit)
	if err == nil {
		return ents
	}
	if errors.Is(err, ErrCompacted) {
		// Compaction raced with us; try again.
		return l.allEntries()
	}
	panic(err)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up-to-date as ours (Raft paper §5.4.1): a later last term wins, and with
// equal terms the longer log wins.
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	if err != nil {
		return false
	}
	return t == term
}

// maybeCommit commits up to maxIndex if that entry is from term. A leader
// only commits entries of its own term by counting replicas; older entries
// are committed indirectly (Raft paper §5.4.2).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

// restore resets the log to a snapshot received from the leader.
func (l *raftLog) restore(s eraftpb.Snapshot) {
	l.logger.Infof("log starts to restore snapshot index=%d term=%d", s.Metadata.Index, s.Metadata.Term)
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// slice returns entries [lo, hi) bounded by maxSize, reading the stable part
// from storage and the rest from unstable.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]eraftpb.Entry, error) {
	if err := l.mustCheckOutOfBounds(lo, hi); err != nil {
		return nil, err
	}
	if lo == hi {
		return nil, nil
	}
	var ents []eraftpb.Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if errors.Is(err, ErrUnavailable) {
			panic(fmt.Sprintf("raft: entries[%d:%d) is unavailable from storage", lo, min(hi, l.unstable.offset)))
		} else if err != nil {
			panic(fmt.Sprintf("raft: storage failed: %v", err))
		}
		// Storage stopped early because of the size limit.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		unstable := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			combined := make([]eraftpb.Entry, len(ents)+len(unstable))
			n := copy(combined, ents)
			copy(combined[n:], unstable)
			ents = combined
		} else {
			ents = unstable
		}
	}
	return LimitSize(ents, maxSize), nil
}

// mustCheckOutOfBounds requires firstIndex() <= lo <= hi <= lastIndex()+1.
func (l *raftLog) mustCheckOutOfBounds(lo, hi uint64) error {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid slice %d > %d", lo, hi))
	}
	fi := l.firstIndex()
	if lo < fi {
		return ErrCompacted
	}
	length := l.lastIndex() + 1 - fi
	if hi > fi+length {
		panic(fmt.Sprintf("raft: slice[%d,%d) out of bound [%d,%d]", lo, hi, fi, l.lastIndex()))
	}
	return nil
}

func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	panic(fmt.Sprintf("raft: unexpected error: %v", err))
}
