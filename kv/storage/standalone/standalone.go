// Package standalone implements storage.Storage on one local engine, without
// replication: for a single-node store, tests, and trying things out.
package standalone

import (
	"context"
	"sync"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// StandaloneStorage stores user data in the kv DB of one engine.Engines.
// Every write is synced before Write returns, so an acknowledged write
// survives kill -9 and power loss: the kv DB is opened with SyncKVWrites,
// and one sync covers a whole batch (see engine's sync.go).
type StandaloneStorage struct {
	engines *engine.Engines

	// mu is held for reading by Write and Reader, for writing by Stop: Stop
	// waits for writes in flight, and nothing starts after it.
	mu      sync.RWMutex
	stopped bool
}

var _ storage.Storage = (*StandaloneStorage)(nil)

// Option configures NewStandaloneStorage.
type Option func(*engine.Options)

// WithEngineOptions sets the engine options (sizes, logger). SyncKVWrites is
// forced on whatever opts says.
func WithEngineOptions(opts engine.Options) Option {
	return func(o *engine.Options) { *o = opts }
}

// NewStandaloneStorage opens (creating if needed) the engines in dir. It
// fails with an error wrapping engine.ErrDataDirLocked if another process
// has dir open. The storage is ready at once; Start is a no-op.
func NewStandaloneStorage(dir string, opts ...Option) (*StandaloneStorage, error) {
	var eo engine.Options
	for _, o := range opts {
		o(&eo)
	}
	eo.SyncKVWrites = true
	e, err := engine.Open(dir, eo)
	if err != nil {
		return nil, err
	}
	return &StandaloneStorage{engines: e}, nil
}

// Engines returns the underlying engines, for tests and tools.
func (s *StandaloneStorage) Engines() *engine.Engines { return s.engines }

// Start implements storage.Storage.
func (s *StandaloneStorage) Start() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return storage.ErrStopped
	}
	return nil
}

// Stop implements storage.Storage: it waits for writes in flight, closes
// readers still open (their later reads fail with engine.ErrClosed) and the
// engines, and releases the data dir. Stopping twice is a no-op.
func (s *StandaloneStorage) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	return s.engines.Close()
}

// Close is Stop.
func (s *StandaloneStorage) Close() error { return s.Stop() }

// Write implements storage.Storage; the region context is ignored. Puts and deletes between two
// DeleteRanges commit as one atomic, synced transaction; a DeleteRange first
// commits what precedes it, so the batch applies in order.
func (s *StandaloneStorage) Write(ctx context.Context, _ *kvrpcpb.Context, batch []storage.Modify) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storage.Validate(batch); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return storage.ErrStopped
	}
	kv := s.engines.KV
	var wb engine.WriteBatch
	for _, m := range batch {
		var err error
		switch m := m.(type) {
		case storage.Put:
			err = wb.PutCF(m.Cf, m.Key, m.Value)
		case storage.Delete:
			err = wb.DeleteCF(m.Cf, m.Key)
		case storage.DeleteRange:
			if err = wb.WriteToDB(kv, false); err == nil {
				wb.Reset()
				err = engine.DeleteRangeCF(kv, m.Cf, m.Start, m.End)
			}
		}
		if err != nil {
			return err
		}
	}
	// The kv DB syncs every commit (SyncKVWrites); sync=true states the
	// requirement and costs nothing more.
	return wb.WriteToDB(kv, true)
}

// Reader implements storage.Storage with an engine snapshot.
func (s *StandaloneStorage) Reader(ctx context.Context, _ *kvrpcpb.Context) (storage.StorageReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return nil, storage.ErrStopped
	}
	snap, err := s.engines.NewSnapshot()
	if err != nil {
		return nil, err
	}
	return reader{snap: snap}, nil
}

// reader adapts an engine snapshot to storage.StorageReader.
type reader struct {
	snap *engine.Snapshot
}

func (r reader) GetCF(cf string, key []byte) ([]byte, error) {
	return r.snap.GetCF(cf, key)
}

func (r reader) IterCF(cf string, opts engine.IterOptions) engine.Iterator {
	it, err := r.snap.NewCFIterator(cf, opts)
	if err != nil {
		return engine.NewErrorIterator(err)
	}
	return it
}

func (r reader) Close() { r.snap.Close() }
