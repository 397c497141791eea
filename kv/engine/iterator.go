package engine

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v3"
)

// IterOptions bounds and orders a CF iterator. Bounds are user keys; an empty
// bound is unbounded on that side.
type IterOptions struct {
	LowerBound []byte // inclusive
	UpperBound []byte // exclusive
	// Reverse iterates from the largest key down.
	Reverse bool
	// KeyOnly says the caller will not read values. It is a hint: values are
	// never prefetched and are read only when Value is called.
	KeyOnly bool
}

// Iterator walks the keys of one CF within bounds, in ascending order, or
// descending with IterOptions.Reverse. It is not safe for concurrent use.
type Iterator interface {
	// Rewind positions at the first key in iteration order: the smallest key
	// >= LowerBound, or with Reverse the largest key < UpperBound.
	Rewind()
	// Seek positions at the first key >= key, or with Reverse at the last
	// key <= key, clamped to the bounds. An empty key is Rewind.
	Seek(key []byte)
	// Valid reports whether the iterator is at a key within the bounds.
	Valid() bool
	// Next moves one key in iteration order.
	Next()
	// Key returns the current user key (a fresh copy).
	Key() []byte
	// Value returns the current value (a fresh copy).
	Value() ([]byte, error)
	// Err reports why the iterator is not Valid when that is an error rather
	// than the end of the range: the iterator could not be created, or its
	// snapshot was closed under it (ErrClosed). nil otherwise.
	Err() error
	// Close releases the iterator. It must be called before the transaction
	// or snapshot it reads from is closed (Snapshot.Close does it for its
	// own iterators).
	Close()
}

// CFIterator is the badger implementation of Iterator.
//
// Invariant: when Valid, the badger iterator is at a key of the form
// cfPrefix+userKey with lower <= key < upper (encoded).
type CFIterator struct {
	it      *badger.Iterator
	lower   []byte // encoded, inclusive; at least the CF prefix
	upper   []byte // encoded, exclusive; at most the CF prefix's successor
	prefix  []byte // the CF prefix
	reverse bool
	closed  bool
	// err is set when the iterator's snapshot closed it.
	err error

	// snap is the snapshot that made the iterator, or nil. Its lock orders
	// every iterator call against Snapshot.Close, so a snapshot closed by
	// Engines.Close during a scan ends the scan instead of reading freed
	// memory.
	snap *Snapshot
}

var _ Iterator = (*CFIterator)(nil)

// NewCFIterator returns an iterator over column family cf ("" = default) of
// txn. It is unpositioned: call Rewind or Seek first. Close it before
// discarding txn.
func NewCFIterator(txn *badger.Txn, cf string, opts IterOptions) (*CFIterator, error) {
	return newCFIterator(txn, cf, opts, nil)
}

func newCFIterator(txn *badger.Txn, cf string, opts IterOptions, snap *Snapshot) (*CFIterator, error) {
	lower, upper, err := DataRange(cf, opts.LowerBound, opts.UpperBound)
	if err != nil {
		return nil, err
	}
	prefix := lower[:2:2]
	bo := badger.IteratorOptions{
		// Prefetching starts a goroutine per item to load its value; our
		// values live in the LSM tree (below ValueThreshold), where reading
		// one on demand costs a copy.
		PrefetchValues: false,
		Reverse:        opts.Reverse,
		// Limits the tables badger considers, and makes the badger iterator
		// invalid outside the CF.
		Prefix: prefix,
	}
	return &CFIterator{
		it:      txn.NewIterator(bo),
		lower:   lower,
		upper:   upper,
		prefix:  prefix,
		reverse: opts.Reverse,
		snap:    snap,
	}, nil
}

func (i *CFIterator) rlock() {
	if i.snap != nil {
		i.snap.mu.RLock()
	}
}

func (i *CFIterator) runlock() {
	if i.snap != nil {
		i.snap.mu.RUnlock()
	}
}

// Rewind implements Iterator.
func (i *CFIterator) Rewind() {
	i.rlock()
	defer i.runlock()
	if i.closed {
		return
	}
	if i.reverse {
		i.seekReverse(i.upper)
	} else {
		i.it.Seek(i.lower)
	}
}

// Seek implements Iterator.
func (i *CFIterator) Seek(key []byte) {
	if len(key) == 0 {
		i.Rewind()
		return
	}
	i.rlock()
	defer i.runlock()
	if i.closed {
		return
	}
	target := make([]byte, 0, len(i.prefix)+len(key))
	target = append(append(target, i.prefix...), key...)
	if i.reverse {
		if bytes.Compare(target, i.upper) > 0 {
			target = i.upper
		}
		i.seekReverse(target)
		return
	}
	if bytes.Compare(target, i.lower) < 0 {
		target = i.lower
	}
	i.it.Seek(target)
}

// seekReverse lands on the largest key <= target (badger's reverse Seek) and
// steps past the exclusive upper bound if it landed exactly on it.
func (i *CFIterator) seekReverse(target []byte) {
	i.it.Seek(target)
	if i.it.Valid() && bytes.Equal(i.it.Item().Key(), i.upper) {
		i.it.Next()
	}
}

// Valid implements Iterator.
func (i *CFIterator) Valid() bool {
	i.rlock()
	defer i.runlock()
	return i.validLocked()
}

func (i *CFIterator) validLocked() bool {
	if i.closed || !i.it.Valid() {
		return false
	}
	k := i.it.Item().Key()
	if i.reverse {
		return bytes.Compare(k, i.lower) >= 0
	}
	return bytes.Compare(k, i.upper) < 0
}

// Next implements Iterator.
func (i *CFIterator) Next() {
	i.rlock()
	defer i.runlock()
	if i.closed {
		return
	}
	i.it.Next()
}

// Key implements Iterator. It returns nil when not Valid.
func (i *CFIterator) Key() []byte {
	i.rlock()
	defer i.runlock()
	if !i.validLocked() {
		return nil
	}
	return i.it.Item().KeyCopy(nil)[len(i.prefix):]
}

// Value implements Iterator.
func (i *CFIterator) Value() ([]byte, error) {
	i.rlock()
	defer i.runlock()
	if !i.validLocked() {
		return nil, ErrIteratorInvalid
	}
	v, err := i.it.Item().ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("engine: read value: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Err implements Iterator.
func (i *CFIterator) Err() error {
	i.rlock()
	defer i.runlock()
	return i.err
}

// Close implements Iterator. Closing twice is a no-op.
func (i *CFIterator) Close() {
	if i.snap != nil {
		i.snap.mu.Lock()
		defer i.snap.mu.Unlock()
		if !i.closed {
			delete(i.snap.iters, i)
		}
	}
	i.closeLocked()
}

// closeLocked closes the badger iterator; with a snapshot, its lock is held
// for writing.
func (i *CFIterator) closeLocked() {
	if i.closed {
		return
	}
	i.closed = true
	i.it.Close()
}

// NewErrorIterator returns an Iterator that is never Valid and whose Err is
// err: for APIs that return an iterator without an error.
func NewErrorIterator(err error) Iterator { return errorIterator{err: err} }

type errorIterator struct{ err error }

func (e errorIterator) Rewind()                {}
func (e errorIterator) Seek([]byte)            {}
func (e errorIterator) Valid() bool            { return false }
func (e errorIterator) Next()                  {}
func (e errorIterator) Key() []byte            { return nil }
func (e errorIterator) Value() ([]byte, error) { return nil, e.err }
func (e errorIterator) Err() error             { return e.err }
func (e errorIterator) Close()                 {}
