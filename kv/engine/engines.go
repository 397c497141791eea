package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/dgraph-io/badger/v3"

	"github.com/regionkv/regionkv/proto/common/datadir"
)

// FormatVersion is the on-disk format this build writes and the newest it
// reads. A data dir without a format-version file is format 1 (it was
// written before the file existed). Raise it with any change that an
// older build would misread, and teach Open to read the older formats.
const FormatVersion = 1

// Subdirectories of the data dir.
const (
	RaftDirName = "raft"
	KVDirName   = "kv"
)

// Engines is one store's pair of badger DBs, opened under one locked data dir:
//
//	<dir>/LOCK            flock held while open (datadir.Lock)
//	<dir>/format-version  the on-disk format, FormatVersion (datadir.CheckFormat)
//	<dir>/raft            Raft log entries and hard state of every region
//	<dir>/kv              user data (all CFs), region state, apply state, store ident
//
// Raft and KV are safe for concurrent use, and must not be used after Close
// (badger may block or panic on a closed DB). Snapshots taken with NewSnapshot
// are tracked, and Close closes any still open before closing the DBs, so a
// reader racing with shutdown gets ErrClosed instead of touching unmapped
// files.
type Engines struct {
	Raft *badger.DB
	KV   *badger.DB

	dir  string
	opts Options
	lock *datadir.Lock

	mu        sync.Mutex
	closed    bool
	snapshots map[*Snapshot]struct{}
}

// Open locks dir (creating it if needed) and opens both DBs under it. A dir
// held by another process fails at once with an error wrapping
// ErrDataDirLocked.
func Open(dir string, opts Options) (*Engines, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: create data dir: %w", err)
	}
	lock, err := datadir.Acquire(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if _, err := datadir.CheckFormat(dir, FormatVersion); err != nil {
		_ = lock.Release()
		return nil, fmt.Errorf("engine: %w", err)
	}
	cache := opts.BlockCacheSize
	if cache == 0 {
		cache = DefaultBlockCacheSize
	}
	// The raft DB syncs every commit: nearly every raft write must be durable
	// before the messages that depend on it go out, and badger's own sync
	// per commit measured 10-35% faster than commit + SyncDB (see sync.go).
	// Group commit comes from raftstore putting one round of every region's
	// Ready into one WriteBatch.
	raftDB, err := badger.Open(opts.badgerOptions(filepath.Join(dir, RaftDirName), !opts.NoSync, 0, false))
	if err != nil {
		_ = lock.Release()
		return nil, fmt.Errorf("engine: open raft db: %w", err)
	}
	kvDB, err := badger.Open(opts.badgerOptions(filepath.Join(dir, KVDirName), opts.SyncKVWrites && !opts.NoSync, cache, true))
	if err != nil {
		_ = raftDB.Close()
		_ = lock.Release()
		return nil, fmt.Errorf("engine: open kv db: %w", err)
	}
	return &Engines{
		Raft:      raftDB,
		KV:        kvDB,
		dir:       dir,
		opts:      opts,
		lock:      lock,
		snapshots: make(map[*Snapshot]struct{}),
	}, nil
}

// DB names one of the two databases, for Options.BeforeWrite.
type DB uint8

const (
	DBRaft DB = iota + 1
	DBKV
)

func (d DB) String() string {
	if d == DBRaft {
		return "raft"
	}
	return "kv"
}

func (e *Engines) beforeWrite(db DB) error {
	if e.opts.BeforeWrite == nil {
		return nil
	}
	return e.opts.BeforeWrite(db)
}

// Dir returns the data dir.
func (e *Engines) Dir() string { return e.dir }

// Options returns the options Open was called with.
func (e *Engines) Options() Options { return e.opts }

// WriteKV commits wb to the kv DB; see WriteBatch.WriteToDB. With
// Options.NoSync it never syncs.
func (e *Engines) WriteKV(wb *WriteBatch, sync bool) error {
	if err := e.beforeWrite(DBKV); err != nil {
		return err
	}
	if err := wb.WriteToDB(e.KV, sync && !e.opts.NoSync); err != nil {
		return err
	}
	if sync && e.opts.OnKVDurable != nil {
		e.opts.OnKVDurable()
	}
	return nil
}

// WriteRaft commits wb to the raft DB; see WriteBatch.WriteToDB. Unless
// Options.NoSync, the raft DB syncs every commit whatever sync says.
func (e *Engines) WriteRaft(wb *WriteBatch, sync bool) error {
	if err := e.beforeWrite(DBRaft); err != nil {
		return err
	}
	return wb.WriteToDB(e.Raft, sync && !e.opts.NoSync)
}

// SyncKV makes every write already committed to the kv DB durable (SyncDB).
// Raftstore calls it before Raft log GC discards entries that an unsynced
// kv DB would need to replay: the apply state it then reads is durable.
func (e *Engines) SyncKV() error {
	if err := e.beforeWrite(DBKV); err != nil {
		return err
	}
	if !e.opts.NoSync {
		if err := SyncDB(e.KV); err != nil {
			return err
		}
	}
	if e.opts.OnKVDurable != nil {
		e.opts.OnKVDurable()
	}
	return nil
}

// SyncRaft makes every write already committed to the raft DB durable.
func (e *Engines) SyncRaft() error {
	if e.opts.NoSync {
		return nil
	}
	return SyncDB(e.Raft)
}

// DeleteRangeKV deletes the user keys [start, end) of one CF from the kv DB,
// chunk by chunk (see DeleteRangeCF: not atomic).
func (e *Engines) DeleteRangeKV(cf string, start, end []byte) error {
	lo, hi, err := DataRange(cf, start, end)
	if err != nil {
		return err
	}
	return deleteEncodedRange(e.KV, lo, hi, func() error { return e.beforeWrite(DBKV) })
}

// DeleteRaftRange deletes the internal keys [start, end) from the raft DB,
// chunk by chunk (see DeleteInternalRange: not atomic).
func (e *Engines) DeleteRaftRange(start, end []byte) error {
	if err := checkInternalRange(start, end); err != nil {
		return err
	}
	return deleteEncodedRange(e.Raft, start, end, func() error { return e.beforeWrite(DBRaft) })
}

// NewSnapshot returns a consistent read view of the kv DB. Close it when
// done; Engines.Close closes any left open.
func (e *Engines) NewSnapshot() (*Snapshot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	s := newSnapshot(e.KV, e)
	e.snapshots[s] = struct{}{}
	return s, nil
}

func (e *Engines) forgetSnapshot(s *Snapshot) {
	e.mu.Lock()
	delete(e.snapshots, s)
	e.mu.Unlock()
}

// Close closes open snapshots, both DBs, and releases the data dir lock.
// Writes must have stopped. Closing twice is a no-op.
func (e *Engines) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	snaps := make([]*Snapshot, 0, len(e.snapshots))
	for s := range e.snapshots {
		snaps = append(snaps, s)
	}
	e.mu.Unlock()

	for _, s := range snaps {
		s.Close()
	}
	var errs []error
	if err := e.KV.Close(); err != nil {
		errs = append(errs, fmt.Errorf("engine: close kv db: %w", err))
	}
	if err := e.Raft.Close(); err != nil {
		errs = append(errs, fmt.Errorf("engine: close raft db: %w", err))
	}
	// Only now may another process open the dir.
	if err := e.lock.Release(); err != nil {
		errs = append(errs, fmt.Errorf("engine: release lock: %w", err))
	}
	return errors.Join(errs...)
}

// DBSize is one database's space on disk, from its files' allocated
// blocks (badger preallocates its value log and memtable logs as sparse
// files, so their lengths say little): the LSM tree's tables (.sst), the
// value log (.vlog), and the rest (memtable logs, manifest).
type DBSize struct {
	DB                string // RaftDirName or KVDirName
	LSM, VLog, Others int64
}

// Sizes measures both databases' files. Badger's own counters are
// process-global expvars, which we keep off (badgerOptions).
func (e *Engines) Sizes() ([]DBSize, error) {
	out := make([]DBSize, 0, 2)
	for _, name := range []string{RaftDirName, KVDirName} {
		entries, err := os.ReadDir(filepath.Join(e.dir, name))
		if err != nil {
			return nil, fmt.Errorf("engine: size of %s: %w", name, err)
		}
		sz := DBSize{DB: name}
		for _, ent := range entries {
			info, err := ent.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue // removed meanwhile (compaction), or a directory
			}
			n := diskUsage(info)
			switch filepath.Ext(ent.Name()) {
			case ".sst":
				sz.LSM += n
			case ".vlog":
				sz.VLog += n
			default:
				sz.Others += n
			}
		}
		out = append(out, sz)
	}
	return out, nil
}

// diskUsage is the space a file takes: its allocated blocks where the
// system says, else its length.
func diskUsage(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512 // st_blocks counts 512-byte units
	}
	return info.Size()
}
