package raftstore

import "testing"

// TestDurableBefore: committed entries go to apply before the round's write
// only up to what is already durable, which excludes the part of the log a
// Ready overwrites (a follower's uncommitted tail replaced by entries the
// same Ready reports committed).
func TestDurableBefore(t *testing.T) {
	for _, tc := range []struct {
		last   uint64
		lo, hi uint64 // the Ready's entries, none if lo == 0
		want   uint64
	}{
		{last: 12, want: 12},                 // nothing appended
		{last: 12, lo: 13, hi: 15, want: 12}, // appended after the log
		{last: 12, lo: 10, hi: 14, want: 9},  // overwrites 10..12
		{last: 12, lo: 12, hi: 12, want: 11}, // overwrites the last entry
		{last: 0, lo: 1, hi: 3, want: 0},     // a new log
		{last: 100, lo: 6, hi: 6, want: 5},   // deep conflict
	} {
		var e = ents(3, tc.lo, tc.hi)
		if tc.lo == 0 {
			e = nil
		}
		if got := durableBefore(tc.last, e); got != tc.want {
			t.Errorf("durableBefore(last %d, entries [%d, %d]) = %d, want %d", tc.last, tc.lo, tc.hi, got, tc.want)
		}
	}
}
