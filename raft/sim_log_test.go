package raft_test

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// The simulation identifies every log prefix by a hash chain: the hash at
// index i covers the entries 1..i (index, term, type, data). Two logs with
// the same chain hash at i agree on everything up to i, so the Log Matching
// Property becomes "equal (index, term) implies equal chain hash", and a
// state machine that applied entries 1..i is identified by the same hash.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// genesisHash is the chain hash of the empty log (index 0).
const genesisHash uint64 = fnvOffset

func fnvUint64(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// chainHash extends the prefix hash h by entry e.
func chainHash(h uint64, e *eraftpb.Entry) uint64 {
	h = fnvUint64(h, e.Index)
	h = fnvUint64(h, e.Term)
	h = fnvUint64(h, uint64(e.EntryType))
	h = fnvUint64(h, uint64(len(e.Data)))
	for _, b := range e.Data {
		h ^= uint64(b)
		h *= fnvPrime
	}
	return h
}

// bootstrapHash is the chain hash of the bootstrap snapshot (index 1, term
// 1) that seeds the initial voters.
func bootstrapHash(voters []uint64) uint64 {
	h := fnvUint64(genesisHash, 1)
	for _, v := range voters {
		h = fnvUint64(h, v)
	}
	return h
}

// smSnapshotData encodes the state machine in a snapshot: the applied index
// and the chain hash there.
func smSnapshotData(index, hash uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, index)
	binary.BigEndian.PutUint64(b[8:], hash)
	return b
}

func decodeSMSnapshot(data []byte) (index, hash uint64, err error) {
	if len(data) != 16 {
		return 0, 0, fmt.Errorf("snapshot data has %d bytes, want 16", len(data))
	}
	return binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:]), nil
}

// simLog mirrors one node's storage with a chain hash per entry. Each node
// has two: written (what its MemoryStorage holds) and durable (what survives
// a crash). Like MemoryStorage, the entries start after a compaction point
// (offset) and the snapshot is kept separately; offset <= snapshot index.
type simLog struct {
	hs eraftpb.HardState

	snap     eraftpb.Snapshot // Metadata nil: no snapshot
	snapHash uint64

	offset, offsetTerm uint64
	offsetHash         uint64
	ents               []eraftpb.Entry // ents[k].Index == offset+1+k
	hashes             []uint64
}

func newEmptySimLog() *simLog { return &simLog{offsetHash: genesisHash} }

func (l *simLog) snapIndex() uint64 { return l.snap.GetMetadata().GetIndex() }

func (l *simLog) lastIndex() uint64 { return l.offset + uint64(len(l.ents)) }

// hashAt returns the chain hash at i if the log holds entry i (or i is its
// compaction point).
func (l *simLog) hashAt(i uint64) (uint64, bool) {
	switch {
	case i == l.offset:
		return l.offsetHash, true
	case i > l.offset && i <= l.lastIndex():
		return l.hashes[i-l.offset-1], true
	}
	return 0, false
}

func (l *simLog) termAt(i uint64) (uint64, bool) {
	switch {
	case i == l.offset:
		return l.offsetTerm, true
	case i > l.offset && i <= l.lastIndex():
		return l.ents[i-l.offset-1].Term, true
	}
	return 0, false
}

// covers reports whether the log holds index i with chain hash h, or a
// snapshot at or past i whose hash at its own index matches want(snapIndex).
func (l *simLog) covers(i uint64, committed []uint64) bool {
	if h, ok := l.hashAt(i); ok {
		return h == committed[i]
	}
	if si := l.snapIndex(); si >= i && si < uint64(len(committed)) {
		return l.snapHash == committed[si]
	}
	return false
}

func (l *simLog) clone() *simLog {
	c := *l
	c.ents = slices.Clone(l.ents)
	c.hashes = slices.Clone(l.hashes)
	return &c
}

// simWrite is one atomic write to a node's storage: everything one Ready
// asks to persist, or one snapshot-and-compact by the application. A crash
// keeps a prefix of the unsynced writes.
type simWrite struct {
	// recvSnap is a snapshot from the leader: it replaces the log.
	recvSnap     *eraftpb.Snapshot
	recvSnapHash uint64
	ents         []eraftpb.Entry
	hashes       []uint64
	hs           *eraftpb.HardState
	// createSnap is a snapshot the application made; compact is the
	// compaction point that follows it (0: none).
	createSnap     *eraftpb.Snapshot
	createSnapHash uint64
	compact        uint64
}

// apply performs w on l. The hashes were computed when w was built against
// the written log; since the durable log goes through the same sequence of
// writes, they hold there too.
func (l *simLog) apply(w *simWrite) error {
	if s := w.recvSnap; s != nil {
		l.snap = *s
		l.snapHash = w.recvSnapHash
		l.offset, l.offsetTerm, l.offsetHash = s.Metadata.Index, s.Metadata.Term, w.recvSnapHash
		l.ents, l.hashes = nil, nil
	}
	if len(w.ents) > 0 {
		if err := l.append(w.ents, w.hashes); err != nil {
			return err
		}
	}
	if w.hs != nil {
		l.hs = *w.hs
	}
	if s := w.createSnap; s != nil {
		l.snap = *s
		l.snapHash = w.createSnapHash
	}
	if w.compact > l.offset {
		if err := l.compactTo(w.compact); err != nil {
			return err
		}
	}
	return nil
}

// append writes ents, replacing any suffix they overlap (MemoryStorage.Append
// semantics).
func (l *simLog) append(ents []eraftpb.Entry, hashes []uint64) error {
	first := ents[0].Index
	if first <= l.offset {
		skip := l.offset + 1 - first
		if skip >= uint64(len(ents)) {
			return nil
		}
		ents, hashes = ents[skip:], hashes[skip:]
		first = ents[0].Index
	}
	if first > l.lastIndex()+1 {
		return fmt.Errorf("append at %d leaves a gap after last index %d", first, l.lastIndex())
	}
	keep := first - l.offset - 1
	l.ents = append(l.ents[:keep:keep], ents...)
	l.hashes = append(l.hashes[:keep:keep], hashes...)
	return nil
}

func (l *simLog) compactTo(i uint64) error {
	if i > l.lastIndex() {
		return fmt.Errorf("compact to %d beyond last index %d", i, l.lastIndex())
	}
	h, _ := l.hashAt(i)
	t, _ := l.termAt(i)
	n := i - l.offset
	l.ents = slices.Clone(l.ents[n:])
	l.hashes = slices.Clone(l.hashes[n:])
	l.offset, l.offsetTerm, l.offsetHash = i, t, h
	return nil
}
