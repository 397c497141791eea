// Package storage is the interface the store server reads and writes user
// data through, whatever replicates it: standalone (one local engine, see
// package standalone) or Raft (package raftstorage over raftstore).
package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Sentinel errors. Validation errors also wrap engine.ErrUnknownCF or
// engine.ErrEmptyKey.
var (
	// ErrStopped: the storage was stopped before the call.
	ErrStopped = errors.New("storage: stopped")
	// ErrInvalidModify: a nil Modify in a batch.
	ErrInvalidModify = errors.New("storage: invalid modification")
)

// Storage writes batches of modifications and hands out consistent readers.
// Implementations are safe for concurrent use.
// Starting and stopping belong to whoever builds the storage (the process
// composition), not to its users.
type Storage interface {
	// Write applies batch in order. When it returns nil the batch is durable
	// to the implementation's guarantee (standalone: survives kill -9 and
	// power loss). A batch of Put and Delete only is atomic: all or nothing.
	// A DeleteRange in a batch is applied in chunks, not atomically (see
	// DeleteRange). Every modification is validated before anything is
	// written, so an invalid one (unknown CF, empty key) fails the whole
	// batch with nothing written.
	//
	// kvctx is the request's routing context (region, epoch, peer, term);
	// standalone ignores it, the Raft storage routes by it. A request the
	// region cannot take fails with a *RegionError. When ctx ends first and
	// the write may still apply, the error is an *UnsettledError.
	Write(ctx context.Context, kvctx *kvrpcpb.Context, batch []Modify) error
	// Reader returns a consistent read view taken at the call: it sees every
	// write acknowledged before it and none after. Close it when done.
	Reader(ctx context.Context, kvctx *kvrpcpb.Context) (StorageReader, error)
}

// RegionError is a failure the client resolves by routing elsewhere
// (NotLeader, EpochNotMatch, RegionNotFound, KeyNotInRegion, StaleCommand,
// ServerIsBusy...). The server puts Err in the response's region_error
// field; check with errors.As.
type RegionError struct {
	Err *errorpb.Error
}

func (e *RegionError) Error() string {
	return "storage: region error: " + e.Err.String()
}

// UnsettledError is Write's answer when ctx ended while the write may still
// apply (a Raft proposal waiting to commit): the caller learns nothing of
// its outcome. Settlement tells when the outcome is known, applied or
// definitely dropped; until then the caller keeps the write's keys from
// other writers (a write of the same key issued after this answer must
// not be overtaken by this one, nor a compare-and-swap read around it).
// It wraps ctx's error.
type UnsettledError struct {
	Err        error
	Settlement *Settlement
}

func (e *UnsettledError) Error() string { return "storage: write outcome unknown: " + e.Err.Error() }

// Unwrap returns the context's error.
func (e *UnsettledError) Unwrap() error { return e.Err }

// Settlement is the moment a write's outcome becomes known. It costs no
// goroutine: what waits for it is run by whoever settles it. A write that
// is never settled (its store crashed) keeps its waiters for ever, which
// is what a crashed store's keys get anyway.
type Settlement struct {
	mu      sync.Mutex
	settled bool
	then    []func()
	done    chan struct{}
}

// NewSettlement returns an unsettled Settlement.
func NewSettlement() *Settlement { return &Settlement{done: make(chan struct{})} }

// Settle marks the outcome known and runs the functions given to Then, on
// the caller's goroutine. Later calls do nothing.
func (s *Settlement) Settle() {
	s.mu.Lock()
	if s.settled {
		s.mu.Unlock()
		return
	}
	s.settled = true
	fns := s.then
	s.then = nil
	close(s.done)
	s.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// Then runs f once the outcome is known: at once if it is, else from
// Settle. f must not block.
func (s *Settlement) Then(f func()) {
	s.mu.Lock()
	if !s.settled {
		s.then = append(s.then, f)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	f()
}

// Done is closed once the outcome is known.
func (s *Settlement) Done() <-chan struct{} { return s.done }

// RegionReader is implemented by readers bound to one region (the Raft
// storage): reads outside Region fail with KeyNotInRegion and iterators are
// clamped to it. Term is the leader term that confirmed the read; a write
// whose Context carries it is refused if leadership changed since, which
// makes a read-then-write (compare-and-swap) atomic across leader changes.
type RegionReader interface {
	StorageReader
	Region() *metapb.Region
	Term() uint64
}

// StorageReader is a consistent read view. GetCF is safe for concurrent use;
// each iterator is for one goroutine.
type StorageReader interface {
	// GetCF returns the value of key in cf ("" = default), or (nil, nil) if
	// the key is absent. A present empty value is a non-nil empty slice.
	GetCF(cf string, key []byte) ([]byte, error)
	// IterCF iterates cf within opts' bounds. An unknown CF, or a closed
	// reader, gives an iterator that is never Valid and whose Err says why.
	// Close the iterator before the reader.
	IterCF(cf string, opts engine.IterOptions) engine.Iterator
	// Close releases the view and any of its iterators still open.
	Close()
}

// Modify is one modification of a Write batch: a Put, a Delete or a
// DeleteRange. CF names follow engine: "" means default.
type Modify interface {
	// CF returns the column family the modification applies to.
	CF() string
	isModify()
}

// Put sets Key of Cf to Value.
type Put struct {
	Cf    string
	Key   []byte
	Value []byte
}

// Delete removes Key of Cf.
type Delete struct {
	Cf  string
	Key []byte
}

// DeleteRange removes every key of one CF in [Start, End). An empty Start is
// the first key, an empty End past the last. It covers one CF, like TiKV's
// RawDeleteRange, so that raw and transactional data can be deleted apart;
// a caller that wants every CF sends one per CF (engine.CFs).
type DeleteRange struct {
	Cf    string
	Start []byte
	End   []byte
}

// NewPut returns a Put.
func NewPut(cf string, key, value []byte) Modify { return Put{Cf: cf, Key: key, Value: value} }

// NewDelete returns a Delete.
func NewDelete(cf string, key []byte) Modify { return Delete{Cf: cf, Key: key} }

// NewDeleteRange returns a DeleteRange.
func NewDeleteRange(cf string, start, end []byte) Modify {
	return DeleteRange{Cf: cf, Start: start, End: end}
}

// CF implements Modify.
func (m Put) CF() string { return m.Cf }

// CF implements Modify.
func (m Delete) CF() string { return m.Cf }

// CF implements Modify.
func (m DeleteRange) CF() string { return m.Cf }

func (Put) isModify()         {}
func (Delete) isModify()      {}
func (DeleteRange) isModify() {}

// Validate checks every modification of a batch without writing anything:
// a known CF, a non-empty key for Put and Delete, no nil entry.
func Validate(batch []Modify) error {
	for i, m := range batch {
		if err := validate(m); err != nil {
			return fmt.Errorf("storage: modification %d: %w", i, err)
		}
	}
	return nil
}

func validate(m Modify) error {
	switch m := m.(type) {
	case Put:
		return validateKey(m.Cf, m.Key)
	case Delete:
		return validateKey(m.Cf, m.Key)
	case DeleteRange:
		return engine.ValidateCF(m.Cf)
	case nil:
		return ErrInvalidModify
	}
	return fmt.Errorf("%w: %T", ErrInvalidModify, m)
}

func validateKey(cf string, key []byte) error {
	if err := engine.ValidateCF(cf); err != nil {
		return err
	}
	if len(key) == 0 {
		return engine.ErrEmptyKey
	}
	return nil
}
