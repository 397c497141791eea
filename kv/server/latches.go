package server

import (
	"hash/maphash"
	"slices"
	"sync"
)

// latches serialize writes to the same key so that RawCompareAndSwap's read
// and write are atomic with respect to every other write of that key. Keys
// hash onto a fixed set of slots; two keys sharing a slot only wait for each
// other, which is harmless. A range write cannot name its keys, so it takes the
// whole table exclusively through rw while point writes hold it shared.
//
// Lock order: rw, then slots in increasing index. Acquire sorts the slots, so
// two writers of overlapping key sets never deadlock.
type latches struct {
	rw    sync.RWMutex
	seed  maphash.Seed
	slots []sync.Mutex
}

func newLatches(n int) *latches {
	return &latches{seed: maphash.MakeSeed(), slots: make([]sync.Mutex, n)}
}

// acquire locks the slots of keys and returns the function that unlocks them.
func (l *latches) acquire(keys ...[]byte) (release func()) {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, int(maphash.Bytes(l.seed, k)%uint64(len(l.slots))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	l.rw.RLock()
	for _, i := range idx {
		l.slots[i].Lock()
	}
	return func() {
		for j := len(idx) - 1; j >= 0; j-- {
			l.slots[idx[j]].Unlock()
		}
		l.rw.RUnlock()
	}
}

// acquireAll excludes every point writer, for writes over a key range.
func (l *latches) acquireAll() (release func()) {
	l.rw.Lock()
	return l.rw.Unlock
}
