package raft

import (
	"fmt"
	"sync"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// Storage is the read side of the stable log. raft only reads it; the
// application writes what Ready hands it (see doc.go) and must make those
// writes visible here before calling Advance.
//
// Methods may return only the sentinel errors listed on each method. Any
// other error means stable storage is broken; raft cannot continue safely
// and panics.
type Storage interface {
	// InitialState returns the persisted HardState and ConfState.
	InitialState() (eraftpb.HardState, eraftpb.ConfState, error)
	// Entries returns the entries in [lo, hi), limited to maxSize bytes but
	// always at least one entry if any is in range. Errors: ErrCompacted
	// if lo <= the snapshot index, ErrUnavailable if hi > LastIndex()+1.
	Entries(lo, hi, maxSize uint64) ([]eraftpb.Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()]. The term at FirstIndex()-1 is the
	// snapshot's term. Errors: ErrCompacted, ErrUnavailable.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry (the snapshot index if
	// the log is empty).
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry that may be
	// available through Entries (snapshot index + 1).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot. Errors:
	// ErrSnapshotTemporarilyUnavailable while one is being built.
	Snapshot() (eraftpb.Snapshot, error)
}

// MemoryStorage is a Storage backed by memory, for tests and for
// applications that persist elsewhere. It is safe for concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState eraftpb.HardState
	snapshot  eraftpb.Snapshot
	// ents[0] is a dummy entry carrying the snapshot's index and term, so
	// that Term(FirstIndex()-1) works. Invariant: ents[i].Index ==
	// ents[0].Index+i.
	ents []eraftpb.Entry
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{
		ents:     make([]eraftpb.Entry, 1),
		snapshot: eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{ConfState: &eraftpb.ConfState{}}},
	}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (eraftpb.HardState, eraftpb.ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var cs eraftpb.ConfState
	if c := ms.snapshot.GetMetadata().GetConfState(); c != nil {
		cs = cloneConfState(*c)
	}
	return ms.hardState, cs, nil
}

// SetHardState saves the current HardState.
func (ms *MemoryStorage) SetHardState(st eraftpb.HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = st
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]eraftpb.Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndexLocked()+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) beyond last index %d", ErrUnavailable, lo, hi, ms.lastIndexLocked())
	}
	ents := ms.ents[lo-offset : hi-offset]
	// Cap the slice so that an append by the caller cannot write into our
	// backing array.
	return LimitSize(ents[:len(ents):len(ents)], maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if int(i-offset) >= len(ms.ents) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndexLocked(), nil
}

func (ms *MemoryStorage) lastIndexLocked() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (eraftpb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the storage contents with snap. It returns
// ErrSnapOutOfDate if snap is older than the current snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap eraftpb.Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snapIndex(snap) <= snapIndex(ms.snapshot) {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []eraftpb.Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at applied index i,
// with configuration cs (nil keeps the previous one) and application data.
// The log is not compacted; call Compact for that. It returns
// ErrSnapOutOfDate if i is not newer than the current snapshot.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *eraftpb.ConfState, data []byte) (eraftpb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= snapIndex(ms.snapshot) {
		return eraftpb.Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndexLocked() {
		return eraftpb.Snapshot{}, fmt.Errorf("%w: snapshot index %d beyond last index %d", ErrUnavailable, i, ms.lastIndexLocked())
	}
	meta := &eraftpb.SnapshotMetadata{Index: i, Term: ms.ents[i-offset].Term}
	if cs != nil {
		c := cloneConfState(*cs)
		meta.ConfState = &c
	} else {
		meta.ConfState = ms.snapshot.GetMetadata().GetConfState()
	}
	ms.snapshot = eraftpb.Snapshot{Data: data, Metadata: meta}
	return ms.snapshot, nil
}

// Compact discards entries up to and including compactIndex (which must have
// been applied; keeping a snapshot that covers it is the caller's job). It
// returns ErrCompacted if compactIndex was already compacted.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndexLocked() {
		return fmt.Errorf("%w: compact index %d beyond last index %d", ErrUnavailable, compactIndex, ms.lastIndexLocked())
	}
	i := compactIndex - offset
	// Copy so the discarded prefix can be collected; the new ents[0] becomes
	// the dummy entry.
	ents := make([]eraftpb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = eraftpb.Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Append appends entries to the log, truncating any conflicting suffix.
// Entries already compacted are skipped. The first new entry must not leave
// a gap after the last index.
func (ms *MemoryStorage) Append(entries []eraftpb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil // all compacted
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		// Truncate into a fresh array: slices handed out by Entries must
		// never observe the overwrite.
		ms.ents = append(append([]eraftpb.Entry(nil), ms.ents[:offset]...), entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("%w: missing log entries [last: %d, append at: %d]",
			ErrUnavailable, ms.lastIndexLocked(), entries[0].Index)
	}
	return nil
}

func cloneConfState(cs eraftpb.ConfState) eraftpb.ConfState {
	return eraftpb.ConfState{
		Voters:   append([]uint64(nil), cs.Voters...),
		Learners: append([]uint64(nil), cs.Learners...),
	}
}

// LimitSize returns the longest prefix of ents whose total size is at most
// maxSize, but never fewer than one entry: the rule of Storage.Entries, for
// Storage implementations. A maxSize of math.MaxUint64 is no limit.
func LimitSize(ents []eraftpb.Entry, maxSize uint64) []eraftpb.Entry {
	if len(ents) == 0 || maxSize == noLimit {
		return ents
	}
	size := uint64(ents[0].Size())
	n := 1
	for ; n < len(ents); n++ {
		size += uint64(ents[n].Size())
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}
