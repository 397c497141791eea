package raftstore

import "github.com/regionkv/regionkv/kv/engine"

// kvBatchFull reports whether a kv write batch being filled (by the apply
// worker, or by a snapshot's application) must be committed before more
// goes in. Past maxApplyBatchBytes, or past half of what one transaction
// of the kv DB can hold: badger refuses a transaction over 15% of its
// memtable (engine.MaxBatchSize), which is 1.2 MB with the 8 MiB memtables
// tests use, well below maxApplyBatchBytes. Half leaves room for badger's
// per-entry overhead, which WriteBatch.Size does not count, and for the
// one entry or pair that crosses the limit.
func (s *Store) kvBatchFull(wb *engine.WriteBatch) bool {
	mt := s.memTableSize()
	limit := min(int64(maxApplyBatchBytes), engine.MaxBatchSize(mt)/2)
	// Badger also caps the entry count, at MaxBatchSize/96.
	return int64(wb.Size()) >= limit || int64(wb.Len()) >= engine.MaxBatchSize(mt)/96/2
}

// memTableSize is the engines' memtable size, which bounds one badger
// transaction (engine.MaxBatchSize).
func (s *Store) memTableSize() int64 {
	if mt := s.engines.Options().MemTableSize; mt != 0 {
		return mt
	}
	return engine.DefaultMemTableSize
}
