package engine

import (
	"fmt"

	"github.com/dgraph-io/badger/v3"
	"github.com/dgraph-io/badger/v3/options"
	"go.uber.org/zap"
)

// Options configures Open. The zero value is valid: a raft DB that syncs
// every commit, an unsynced kv DB (the Raft setup), default sizes, no logging.
type Options struct {
	// SyncKVWrites makes every commit to the kv DB durable before it returns.
	// Standalone storage needs it (the kv DB is the only copy). Under Raft
	// leave it off: the synced Raft log replays the kv DB, and raftstore
	// calls SyncKV before log GC truncates what the kv DB depends on.
	SyncKVWrites bool
	// NoSync is for tests that run many stores and do not simulate power
	// loss: the raft DB is opened without SyncWrites (normally it syncs
	// every commit), and Engines' WriteKV, WriteRaft, SyncKV and
	// SyncRaft skip their syncs. Writes still survive kill -9 (see sync.go),
	// not power loss. Never set it in production.
	NoSync bool

	// MemTableSize is the size of one badger memtable of each DB; zero
	// means DefaultMemTableSize. It also bounds a write batch: badger
	// refuses a transaction over 15% of it (see MaxBatchSize, BatchLimit).
	MemTableSize int64
	// BlockCacheSize is the kv DB's block cache (zero means
	// DefaultBlockCacheSize). The raft DB stores uncompressed blocks read
	// straight from the mmapped tables and has no cache: the log is mostly
	// written, read back only by lagging followers.
	BlockCacheSize int64

	// OnKVDurable, if set, is called after every point at which the kv DB
	// became durable up to everything committed before it: a successful
	// SyncKV, and a successful WriteKV with sync set. It runs on the
	// caller's goroutine, with NoSync too (where it marks where a sync
	// would have been). Only tests set it: tests/cluster takes a checkpoint
	// of the kv DB there, to simulate power loss. nil in production.
	OnKVDurable func()

	// BeforeWrite, if set, is called before every write Engines makes to
	// either DB (WriteKV, WriteRaft, each chunk of DeleteRangeKV and
	// DeleteRaftRange, SyncKV); a non-nil error skips the write and is
	// returned to the caller. Only tests set it: raftstore's interleaving
	// harness fences a store's engines there to crash it between any two
	// writes. nil in production.
	BeforeWrite func(db DB) error

	// Logger receives badger's warnings and errors (info and debug are
	// dropped). nil means no logging. Pass the server's logger, e.g.
	// pingcap/log's log.L().
	Logger *zap.Logger
}

// Defaults, chosen for a 2-core, 24 GiB machine that may run several stores
// (an in-process test cluster) at once.
//
// A badger DB allocates each memtable's arena (about 1.3x MemTableSize, on
// the Go heap, paged in as it fills) and keeps up to numMemtables of them
// (one taking writes, one being flushed), so a DB costs at most about
// numMemtables*1.3*MemTableSize + BlockCacheSize: ~230 MiB for the kv DB and
// ~170 MiB for the raft DB with these values, against ~700 MiB per DB with
// badger's defaults (5 x 64 MiB memtables, 256 MiB cache). 64 MiB memtables
// keep the largest atomic batch near 9.6 MiB / 100k entries, so a batch of a
// few MiB always fits. Tests that open many engines pass smaller values
// (4 MiB memtables: batches up to ~600 KB).
const (
	DefaultMemTableSize   int64 = 64 << 20
	DefaultBlockCacheSize int64 = 64 << 20

	minMemTableSize int64 = 1 << 20
	numMemtables          = 2
	// numCompactors: badger refuses 1; 2 matches the core count.
	numCompactors = 2
	// maxValueThreshold is badger's own ceiling: values below it are stored
	// in the LSM tree (and its WAL); larger ones in the value log.
	maxValueThreshold int64 = 1 << 20
)

func (o Options) memTableSize() int64 {
	if o.MemTableSize == 0 {
		return DefaultMemTableSize
	}
	return o.MemTableSize
}

func (o Options) validate() error {
	if o.MemTableSize != 0 && o.MemTableSize < minMemTableSize {
		return fmt.Errorf("%w: MemTableSize %d below %d", ErrInvalidOptions, o.MemTableSize, minMemTableSize)
	}
	if o.BlockCacheSize < 0 {
		return fmt.Errorf("%w: negative BlockCacheSize", ErrInvalidOptions)
	}
	return nil
}

// MaxBatchSize is the largest batch, in badger's estimate of bytes (keys plus
// values plus about 12 bytes per entry), that fits in one transaction of a DB
// with this memtable size. Badger also caps the entry count, at
// MaxBatchSize/96.
func MaxBatchSize(memTableSize int64) int64 {
	return memTableSize * 15 / 100
}

// badgerOptions builds the options of one of the two DBs.
func (o Options) badgerOptions(dir string, sync bool, blockCache int64, compress bool) badger.Options {
	mt := o.memTableSize()
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(sync).
		WithMemTableSize(mt).
		WithNumMemtables(numMemtables).
		WithNumCompactors(numCompactors).
		// Small values stay in the LSM tree: a point read is one lookup, and
		// value-log GC (which we never run) is only needed for large ones.
		// Badger refuses a threshold above its max batch size.
		WithValueThreshold(min(maxValueThreshold, MaxBatchSize(mt))).
		// Callers serialise their own writes (raftstore) or need no
		// read-write conflicts (standalone blind writes). With detection on,
		// badger remembers the keys of every commit while any older read
		// transaction is open, and a long-lived snapshot would grow that
		// list without bound.
		WithDetectConflicts(false).
		// Badger's metrics are process-global expvars.
		WithMetricsEnabled(false).
		WithLogger(newBadgerLogger(o.Logger))
	if compress {
		bo = bo.WithCompression(options.Snappy).WithBlockCacheSize(blockCache)
	} else {
		bo = bo.WithCompression(options.None).WithBlockCacheSize(0)
	}
	return bo
}

// badgerLogger routes badger's warnings and errors to zap. Badger logs a lot
// at info level (every compaction, every table open); that is dropped.
type badgerLogger struct {
	l *zap.SugaredLogger
}

func newBadgerLogger(l *zap.Logger) badger.Logger {
	if l == nil {
		l = zap.NewNop()
	}
	return badgerLogger{l: l.With(zap.String("component", "badger")).Sugar()}
}

func (b badgerLogger) Errorf(f string, args ...interface{})   { b.l.Errorf(f, args...) }
func (b badgerLogger) Warningf(f string, args ...interface{}) { b.l.Warnf(f, args...) }
func (b badgerLogger) Infof(string, ...interface{})           {}
func (b badgerLogger) Debugf(string, ...interface{})          {}
