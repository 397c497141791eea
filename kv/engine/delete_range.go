package engine

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v3"
)

// Chunk limits of a range delete. Each chunk is one transaction and must fit
// the smallest batch Open allows (1 MiB memtables: about 157 KB and 1,638
// entries, with ~20 bytes of overhead per entry). A chunk stops once it holds
// deleteChunkBytes of keys, so it is at most that plus one key (< 64 KB).
const (
	deleteChunkKeys  = 1024
	deleteChunkBytes = 64 << 10
)

// DeleteRange deletes the user range [start, end) from every CF (empty start:
// from the first key; empty end: to the last). It is not atomic: it deletes
// in chunks of one transaction each, so a crash or an error can leave a
// prefix of the range deleted, and a key written into the range while it
// runs may survive. Callers (destroying a region, applying a snapshot) own
// the range: nothing else writes to it meanwhile, and they either retry until
// success or record their intent first. Durability follows db's SyncWrites.
func DeleteRange(db *badger.DB, start, end []byte) error {
	for _, cf := range CFs {
		if err := DeleteRangeCF(db, cf, start, end); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRangeCF is DeleteRange for one CF ("" = default).
func DeleteRangeCF(db *badger.DB, cf string, start, end []byte) error {
	lo, hi, err := DataRange(cf, start, end)
	if err != nil {
		return err
	}
	return deleteEncodedRange(db, lo, hi, nil)
}

// DeleteInternalRange deletes the internal keys in [start, end), e.g. a
// region's Raft log below a compaction index, or RegionRaftPrefix and its
// successor to destroy a region's Raft state. Both bounds must be internal
// keys (an end just past the internal space, 0x02, is accepted). Not atomic,
// like DeleteRange.
func DeleteInternalRange(db *badger.DB, start, end []byte) error {
	if err := checkInternalRange(start, end); err != nil {
		return err
	}
	return deleteEncodedRange(db, start, end, nil)
}

func checkInternalRange(start, end []byte) error {
	if !IsInternalKey(start) {
		return fmt.Errorf("%w: start %x", ErrNotInternalKey, start)
	}
	if !IsInternalKey(end) && !bytes.Equal(end, []byte{internalPrefix + 1}) {
		return fmt.Errorf("%w: end %x", ErrNotInternalKey, end)
	}
	return nil
}

// deleteEncodedRange deletes [lo, hi) chunk by chunk. Each round reads the
// next chunk of keys in a fresh read view and deletes them in one write
// transaction, then resumes after the last key deleted. before, if not nil,
// runs before each chunk's write and may refuse it.
func deleteEncodedRange(db *badger.DB, lo, hi []byte, before func() error) error {
	if bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	from := lo
	var wb WriteBatch
	for {
		keys, more, err := nextChunk(db, from, hi)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		wb.Reset()
		for _, k := range keys {
			// Encoded keys go in as they are: the range is already validated.
			op := batchOp{del: true}
			op.keyOff, op.keyLen = wb.appendRaw(k)
			wb.ops = append(wb.ops, op)
		}
		if err := wb.commit(db); err != nil {
			return fmt.Errorf("engine: delete range: %w", err)
		}
		if !more {
			return nil
		}
		// Resume strictly after the last key: its successor in byte order.
		last := keys[len(keys)-1]
		from = append(last[:len(last):len(last)], 0)
	}
}

// nextChunk returns the keys in [from, hi), up to the chunk limits, and
// whether more may follow.
func nextChunk(db *badger.DB, from, hi []byte) (keys [][]byte, more bool, err error) {
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: commonPrefix(from, hi)})
		defer it.Close()
		size := 0
		for it.Seek(from); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.Compare(k, hi) >= 0 {
				return nil
			}
			if len(keys) >= deleteChunkKeys || size >= deleteChunkBytes {
				more = true
				return nil
			}
			keys = append(keys, it.Item().KeyCopy(nil))
			size += len(k)
		}
		return nil
	})
	return keys, more, err
}

// commonPrefix returns the longest common prefix of a and b; every key in
// [a, b) has it.
func commonPrefix(a, b []byte) []byte {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n:n]
}
