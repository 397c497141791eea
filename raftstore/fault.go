package raftstore

// Faults a test can inject into a running store. They are off unless a
// test turns them on; production never calls them.

// SetTickRate skews the store's clock as its peers see it: with every = n > 1
// only one in n ticks of the ticker reaches the peers (a clock n times slow:
// heartbeats, elections, log GC and read timeouts all slow down); every < 0
// stops ticks altogether (a store whose timer is stuck, e.g. a long pause);
// 0 or 1 restores normal ticking. Wall-clock deadlines, such as the leader
// lease, are not affected: they must stay safe whatever the ticks do.
func (s *Store) SetTickRate(every int) { s.tickRate.Store(int32(every)) }

// tickDue applies SetTickRate to one ticker period; n counts the periods
// since the last tick delivered.
func (s *Store) tickDue(n *int32) bool {
	every := s.tickRate.Load()
	switch {
	case every < 0:
		return false
	case every <= 1:
		*n = 0
		return true
	}
	*n++
	if *n < every {
		return false
	}
	*n = 0
	return true
}
