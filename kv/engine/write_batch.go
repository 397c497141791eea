package engine

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v3"
)

// Marshaler is what SetMeta needs of a message; every gogo-generated message
// has it.
type Marshaler interface {
	Marshal() ([]byte, error)
}

// sizedMarshaler lets SetMeta encode straight into the batch's buffer; gogo's
// gogofaster messages implement it.
type sizedMarshaler interface {
	Size() int
	MarshalTo(dAtA []byte) (int, error)
}

// WriteBatch collects puts and deletes and commits them atomically with
// WriteToDB. Keys and values are copied in, so callers may reuse their
// buffers. Later operations on the same key win, as if applied in order.
// A WriteBatch is not safe for concurrent use.
type WriteBatch struct {
	// buf holds every key and value back to back; ops index into it, so the
	// batch makes one growing allocation instead of two per entry, and Reset
	// keeps the capacity.
	buf []byte
	ops []batchOp
}

type batchOp struct {
	keyOff, keyLen int
	valOff, valLen int
	del            bool
}

// NewWriteBatch returns an empty batch.
func NewWriteBatch() *WriteBatch { return &WriteBatch{} }

func (wb *WriteBatch) appendData(cfb byte, key []byte) (int, int) {
	off := len(wb.buf)
	wb.buf = appendDataKey(wb.buf, cfb, key)
	return off, len(wb.buf) - off
}

func (wb *WriteBatch) appendRaw(b []byte) (int, int) {
	off := len(wb.buf)
	wb.buf = append(wb.buf, b...)
	return off, len(b)
}

// PutCF sets key of column family cf ("" = default) to value.
func (wb *WriteBatch) PutCF(cf string, key, value []byte) error {
	cfb, err := cfByte(cf)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	var op batchOp
	op.keyOff, op.keyLen = wb.appendData(cfb, key)
	op.valOff, op.valLen = wb.appendRaw(value)
	wb.ops = append(wb.ops, op)
	return nil
}

// DeleteCF deletes key of column family cf ("" = default).
func (wb *WriteBatch) DeleteCF(cf string, key []byte) error {
	cfb, err := cfByte(cf)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	op := batchOp{del: true}
	op.keyOff, op.keyLen = wb.appendData(cfb, key)
	wb.ops = append(wb.ops, op)
	return nil
}

// Set writes value under an internal key (built by StoreIdentKey,
// RaftLogKey, ...). User data must go through PutCF, so a key outside the
// internal key space fails with ErrNotInternalKey.
func (wb *WriteBatch) Set(key, value []byte) error {
	if !IsInternalKey(key) {
		return fmt.Errorf("%w: %x", ErrNotInternalKey, key)
	}
	var op batchOp
	op.keyOff, op.keyLen = wb.appendRaw(key)
	op.valOff, op.valLen = wb.appendRaw(value)
	wb.ops = append(wb.ops, op)
	return nil
}

// Delete deletes an internal key.
func (wb *WriteBatch) Delete(key []byte) error {
	if !IsInternalKey(key) {
		return fmt.Errorf("%w: %x", ErrNotInternalKey, key)
	}
	op := batchOp{del: true}
	op.keyOff, op.keyLen = wb.appendRaw(key)
	wb.ops = append(wb.ops, op)
	return nil
}

// SetMeta marshals msg under an internal key.
func (wb *WriteBatch) SetMeta(key []byte, msg Marshaler) error {
	if !IsInternalKey(key) {
		return fmt.Errorf("%w: %x", ErrNotInternalKey, key)
	}
	if sm, ok := msg.(sizedMarshaler); ok {
		n := sm.Size()
		var op batchOp
		op.keyOff, op.keyLen = wb.appendRaw(key)
		op.valOff = len(wb.buf)
		wb.buf = append(wb.buf, make([]byte, n)...)
		m, err := sm.MarshalTo(wb.buf[op.valOff:])
		if err != nil {
			wb.buf = wb.buf[:op.keyOff]
			return fmt.Errorf("engine: marshal meta: %w", err)
		}
		op.valLen = m
		wb.buf = wb.buf[:op.valOff+m]
		wb.ops = append(wb.ops, op)
		return nil
	}
	data, err := msg.Marshal()
	if err != nil {
		return fmt.Errorf("engine: marshal meta: %w", err)
	}
	return wb.Set(key, data)
}

// DeleteMeta deletes an internal key; it is Delete, named for symmetry.
func (wb *WriteBatch) DeleteMeta(key []byte) error { return wb.Delete(key) }

// Len returns the number of operations in the batch.
func (wb *WriteBatch) Len() int { return len(wb.ops) }

// Size returns the bytes of encoded keys and values in the batch.
func (wb *WriteBatch) Size() int { return len(wb.buf) }

// IsEmpty reports whether the batch has no operations.
func (wb *WriteBatch) IsEmpty() bool { return len(wb.ops) == 0 }

// Append adds every operation of other after those of wb, as if they had
// been made on wb in order; other is left intact.
func (wb *WriteBatch) Append(other *WriteBatch) {
	shift := len(wb.buf)
	wb.buf = append(wb.buf, other.buf...)
	for _, op := range other.ops {
		op.keyOff += shift
		op.valOff += shift
		wb.ops = append(wb.ops, op)
	}
}

// Reset empties the batch, keeping its memory.
func (wb *WriteBatch) Reset() {
	wb.buf = wb.buf[:0]
	wb.ops = wb.ops[:0]
}

// WriteToDB commits the whole batch to db in one badger transaction: after a
// crash either every operation is visible or none is. A batch that badger
// cannot take in one transaction fails with ErrBatchTooLarge and writes
// nothing; it is never split.
//
// With sync, every write committed to db before WriteToDB returns nil,
// this batch included, survives power loss: on a DB opened with SyncWrites
// the commit itself syncs, otherwise WriteToDB calls SyncDB after it. One
// sync serves the whole batch. Without sync, the batch survives a process
// crash (kill -9) but may be lost on power loss unless db syncs every write.
// An empty batch writes nothing but still honours sync.
//
// The batch is left intact; call Reset to reuse it.
func (wb *WriteBatch) WriteToDB(db *badger.DB, sync bool) error {
	if len(wb.ops) > 0 {
		if err := wb.commit(db); err != nil {
			return err
		}
	}
	if sync {
		return SyncDB(db)
	}
	return nil
}

func (wb *WriteBatch) commit(db *badger.DB) error {
	txn := db.NewTransaction(true)
	defer txn.Discard()
	for i := range wb.ops {
		op := &wb.ops[i]
		// Full slice expressions: badger must never append into our buffer.
		key := wb.buf[op.keyOff : op.keyOff+op.keyLen : op.keyOff+op.keyLen]
		var err error
		if op.del {
			err = txn.Delete(key)
		} else {
			err = txn.Set(key, wb.buf[op.valOff:op.valOff+op.valLen:op.valOff+op.valLen])
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("%w: %d operations, %d bytes (limit about %d bytes, %d operations)",
				ErrBatchTooLarge, len(wb.ops), len(wb.buf), db.MaxBatchSize(), db.MaxBatchCount())
		}
		if err != nil {
			return fmt.Errorf("engine: write batch: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("engine: commit write batch: %w", err)
	}
	return nil
}
