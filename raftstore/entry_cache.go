package raftstore

import "github.com/regionkv/regionkv/proto/pkg/eraftpb"

// entryCache keeps the recent tail of a peer's log in memory so that
// replication to followers that keep up never reads the raft DB.
// Invariant: ents is contiguous (ents[i].Index == ents[0].Index+i).
type entryCache struct {
	ents  []eraftpb.Entry
	limit int
}

func (c *entryCache) first() uint64 {
	if len(c.ents) == 0 {
		return 0
	}
	return c.ents[0].Index
}

// append adds newly persisted entries, replacing any conflicting suffix.
func (c *entryCache) append(ents []eraftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	if n := len(c.ents); n > 0 {
		first, last := c.ents[0].Index, c.ents[n-1].Index
		switch {
		case ents[0].Index == last+1:
		case ents[0].Index > first && ents[0].Index <= last:
			// Copy: slices handed out by get must not see the overwrite.
			c.ents = append([]eraftpb.Entry(nil), c.ents[:ents[0].Index-first]...)
		default:
			c.ents = nil
		}
	}
	c.ents = append(c.ents, ents...)
	if over := len(c.ents) - c.limit; over > 0 {
		// Reslice rather than copy: append moves the live tail to a new
		// array when the old one is used up, so trimming costs O(1) per
		// entry. The dropped head is not cleared: slices handed out by get
		// may still point at it. It is freed with the old array.
		c.ents = c.ents[over:]
	}
}

// get returns the cached entries of [lo, hi) if the cache holds all of them.
func (c *entryCache) get(lo, hi uint64) ([]eraftpb.Entry, bool) {
	if len(c.ents) == 0 || lo < c.ents[0].Index || hi > c.ents[len(c.ents)-1].Index+1 {
		return nil, false
	}
	f := c.ents[0].Index
	s := c.ents[lo-f : hi-f]
	return s[:len(s):len(s)], true
}

func (c *entryCache) term(i uint64) (uint64, bool) {
	if len(c.ents) == 0 || i < c.ents[0].Index || i > c.ents[len(c.ents)-1].Index {
		return 0, false
	}
	return c.ents[i-c.ents[0].Index].Term, true
}

// compactTo drops entries up to and including idx.
func (c *entryCache) compactTo(idx uint64) {
	if len(c.ents) == 0 || idx < c.ents[0].Index {
		return
	}
	if idx >= c.ents[len(c.ents)-1].Index {
		c.ents = nil
		return
	}
	c.ents = c.ents[idx+1-c.ents[0].Index:] // as in append: no copy, no clear
}

func (c *entryCache) reset() { c.ents = nil }
