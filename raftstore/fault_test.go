package raftstore

import "testing"

// TestTickRate: SetTickRate lets one in n ticker periods through, none
// when stopped, all when normal.
func TestTickRate(t *testing.T) {
	s := &Store{}
	for _, tc := range []struct{ every, want int }{{0, 12}, {1, 12}, {4, 3}, {5, 2}, {-1, 0}} {
		s.SetTickRate(tc.every)
		var n int32
		got := 0
		for i := 0; i < 12; i++ {
			if s.tickDue(&n) {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("rate %d: %d ticks of 12 periods, want %d", tc.every, got, tc.want)
		}
	}
}
