package raftstore

import "github.com/regionkv/regionkv/kv/engine"

// kvBatchFull reports whether a kv write batch being filled (by the apply
// worker, or by a snapshot's application) must be committed before more
// goes in: past maxApplyBatchBytes, or past what one transaction of the kv
// DB safely holds (engine.BatchLimit).
func (s *Store) kvBatchFull(wb *engine.WriteBatch) bool {
	return s.engines.BatchLimit(engine.DBKV).Min(maxApplyBatchBytes).Full(wb)
}
