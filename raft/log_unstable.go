package raft

import (
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// unstable holds the entries and snapshot that raft has accepted but the
// application has not yet written to Storage. It is the suffix of the log
// that Ready hands out for persistence.
//
// Invariants: if snapshot != nil, offset == snapshot index + 1; entries[i]
// has index offset+i.
type unstable struct {
	snapshot *eraftpb.Snapshot
	entries  []eraftpb.Entry
	offset   uint64

	logger Logger
}

// maybeFirstIndex returns the first index of the log if a pending snapshot
// determines it.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index if unstable holds any entry or a
// snapshot.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if unstable knows it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to (i, t) as persisted. A term mismatch means the
// entries were replaced after the Ready was handed out; then nothing is
// marked, and the new entries come in the next Ready.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	// Copy the rest so the persisted prefix can be collected.
	u.entries = append([]eraftpb.Entry(nil), u.entries[n:]...)
	u.offset = i + 1
}

// stableSnapTo marks the pending snapshot at index i as persisted.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}

// restore replaces everything with a snapshot received from the leader.
func (u *unstable) restore(s eraftpb.Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
}

// truncateAndAppend appends ents, first dropping any existing suffix that
// they replace.
func (u *unstable) truncateAndAppend(ents []eraftpb.Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replaces everything unstable holds (and possibly some of the
		// stable log, which the application overwrites on persisting).
		u.logger.Infof("replace the unstable entries from-index=%d", after)
		u.offset = after
		u.entries = append([]eraftpb.Entry(nil), ents...)
	default:
		// Keep [offset, after) in a fresh array: earlier Readys and
		// messages may still reference the old one.
		u.logger.Infof("truncate the unstable entries before-index=%d", after)
		keep := u.slice(u.offset, after)
		u.entries = append(append(make([]eraftpb.Entry, 0, len(keep)+len(ents)), keep...), ents...)
	}
}

// slice returns entries [lo, hi), which must be within unstable.
func (u *unstable) slice(lo, hi uint64) []eraftpb.Entry {
	u.mustCheckOutOfBounds(lo, hi)
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}

func (u *unstable) mustCheckOutOfBounds(lo, hi uint64) {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid unstable.slice %d > %d", lo, hi))
	}
	upper := u.offset + uint64(len(u.entries))
	if lo < u.offset || hi > upper {
		panic(fmt.Sprintf("raft: unstable.slice[%d,%d) out of bound [%d,%d)", lo, hi, u.offset, upper))
	}
}
