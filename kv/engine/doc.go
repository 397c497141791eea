// Package engine is one store's storage: two badger v3 DBs under one locked
// data dir (see Engines), the key encoding that everything above relies on
// (keys.go), atomic write batches and what makes them durable (write_batch.go,
// sync.go), reads, bounded CF iterators, range deletes and snapshots.
//
// It knows nothing of Raft or regions beyond the key constructors raftstore
// uses. Per DESIGN.md it depends on badger (plus zap for badger's log and
// x/sys for flock) and on no other package of ours; its tests use proto.
package engine
