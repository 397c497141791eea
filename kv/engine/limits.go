package engine

// BatchLimit is how much a write batch may carry and still commit as one
// transaction of a DB: half of badger's limits (bytes, and entries), which
// leaves room for badger's per-entry overhead that WriteBatch.Size does not
// count and for the one entry or pair that crosses the line. With the
// 8 MiB memtables tests use, badger takes about 1.2 MB per transaction.
type BatchLimit struct{ Bytes, Ops int64 }

// BatchLimit returns the limit of one transaction of db.
func (e *Engines) BatchLimit(db DB) BatchLimit {
	d := e.KV
	if db == DBRaft {
		d = e.Raft
	}
	return BatchLimit{Bytes: d.MaxBatchSize() / 2, Ops: d.MaxBatchCount() / 2}
}

// Full reports whether wb has reached the limit: commit it before adding
// more.
func (l BatchLimit) Full(wb *WriteBatch) bool {
	return int64(wb.Size()) >= l.Bytes || int64(wb.Len()) >= l.Ops
}

// Fits reports whether a and b together stay within the limit.
func (l BatchLimit) Fits(a, b *WriteBatch) bool {
	return int64(a.Size()+b.Size()) <= l.Bytes && int64(a.Len()+b.Len()) <= l.Ops
}

// Min returns the tighter of l and a byte bound.
func (l BatchLimit) Min(bytes int64) BatchLimit {
	l.Bytes = min(l.Bytes, bytes)
	return l
}
