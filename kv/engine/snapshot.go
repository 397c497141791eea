package engine

import (
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v3"
)

// Snapshot is a consistent read view of the kv DB: a read-only badger
// transaction. It sees every write committed before it was taken and none
// after. Badger keeps the versions it needs until it is closed (compaction
// does not discard versions newer than the oldest open read), so close it
// promptly: an open snapshot pins old versions on disk.
//
// GetCF and GetMeta are safe for concurrent use; each iterator is for one
// goroutine at a time. Close closes the snapshot's iterators that are still
// open; after Close, reads return ErrClosed and iterators are invalid.
type Snapshot struct {
	// mu is held for reading by every read and iterator call and for writing
	// by Close and Iterator.Close, so the transaction is never discarded
	// under a reader. Badger would also panic on discarding a transaction
	// with open iterators.
	mu     sync.RWMutex
	txn    *badger.Txn
	closed bool
	iters  map[*CFIterator]struct{}
	owner  *Engines // to forget the snapshot on Close; may be nil
}

// NewSnapshot returns a snapshot of db that no Engines tracks: the caller
// must close it before closing db. Prefer Engines.NewSnapshot.
func NewSnapshot(db *badger.DB) *Snapshot {
	return newSnapshot(db, nil)
}

func newSnapshot(db *badger.DB, owner *Engines) *Snapshot {
	return &Snapshot{
		txn:   db.NewTransaction(false),
		iters: make(map[*CFIterator]struct{}),
		owner: owner,
	}
}

// GetCF reads key of column family cf ("" = default) as of the snapshot;
// (nil, nil) if missing.
func (s *Snapshot) GetCF(cf string, key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return GetCFTxn(s.txn, cf, key)
}

// GetMeta reads the message under an internal key as of the snapshot.
func (s *Snapshot) GetMeta(key []byte, msg Unmarshaler) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	return GetMetaTxn(s.txn, key, msg)
}

// NewCFIterator returns an iterator over a CF as of the snapshot.
func (s *Snapshot) NewCFIterator(cf string, opts IterOptions) (*CFIterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	it, err := newCFIterator(s.txn, cf, opts, s)
	if err != nil {
		return nil, err
	}
	s.iters[it] = struct{}{}
	return it, nil
}

// ScanInternal calls fn, in key order, with every internal key under prefix
// and its value, as of the snapshot (both are copies fn may keep). It stops
// at fn's first error and returns it. prefix must lie in the internal key
// space (RegionMetaPrefix, RegionRaftPrefix, ...); user data is read through
// NewCFIterator.
func (s *Snapshot) ScanInternal(prefix []byte, fn func(key, value []byte) error) error {
	if !IsInternalKey(prefix) {
		return fmt.Errorf("%w: scan prefix %x", ErrNotInternalKey, prefix)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	it := s.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		val, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("engine: read value: %w", err)
		}
		if err := fn(item.KeyCopy(nil), val); err != nil {
			return err
		}
	}
	return nil
}

// Close closes open iterators and releases the snapshot. Closing twice is a
// no-op.
func (s *Snapshot) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for it := range s.iters {
		it.closeLocked()
		it.err = ErrClosed
	}
	s.iters = nil
	s.txn.Discard()
	s.mu.Unlock()
	if s.owner != nil {
		s.owner.forgetSnapshot(s)
	}
}
