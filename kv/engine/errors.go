package engine

import (
	"errors"

	"github.com/regionkv/regionkv/proto/common/datadir"
)

// Sentinel errors. Callers test for them with errors.Is; the returned errors
// usually wrap them with detail.
var (
	// ErrDataDirLocked: another process (or another Engines in this one)
	// holds the data dir. It is datadir.ErrLocked, which schedulers'
	// data dirs share.
	ErrDataDirLocked = datadir.ErrLocked
	// ErrNewerFormat: the data dir was written in a newer format than
	// FormatVersion.
	ErrNewerFormat = datadir.ErrNewerFormat
	// ErrUnknownCF: a column family name that is not in CFs.
	ErrUnknownCF = errors.New("engine: unknown column family")
	// ErrEmptyKey: user keys must be non-empty.
	ErrEmptyKey = errors.New("engine: empty key")
	// ErrInvalidKey: an encoded key that does not decode as asked.
	ErrInvalidKey = errors.New("engine: invalid encoded key")
	// ErrNotInternalKey: a raw (meta) write or delete outside the internal
	// key space; user data must go through the CF methods.
	ErrNotInternalKey = errors.New("engine: key is not in the internal key space")
	// ErrBatchTooLarge: a write batch that does not fit in one badger
	// transaction. It is never split, because that would break atomicity.
	ErrBatchTooLarge = errors.New("engine: write batch too large for one transaction")
	// ErrClosed: use of closed Engines, Snapshot or Iterator.
	ErrClosed = errors.New("engine: closed")
	// ErrIteratorInvalid: Value on an iterator that is not Valid.
	ErrIteratorInvalid = errors.New("engine: iterator is not at a key")
	// ErrInvalidOptions: Options that cannot work.
	ErrInvalidOptions = errors.New("engine: invalid options")
)
