// Package client is the Go SDK of regionkv: a raw key-value client that
// routes each request to the leader of the region holding its keys and
// follows the cluster as regions split and leaders move.
//
// # Use
//
//	c, err := client.NewRawClient(ctx, []string{"127.0.0.1:2379"})
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Put(ctx, []byte("k"), []byte("v"))
//	v, err := c.Get(ctx, []byte("k")) // v == nil, err == nil: no such key
//
// NewRawClientForStore talks to one standalone store instead (`regionkv
// server --standalone`), with no scheduler and no regions.
//
// Keys and values are non-empty byte strings. Scan returns keys in
// [startKey, endKey) ascending; ReverseScan, as in TiKV, takes startKey as the
// exclusive upper bound and endKey as the inclusive lower bound and returns
// keys in descending order. Empty bounds are open. Batch calls group their
// keys by region and send the groups in parallel; each group is atomic,
// the call as a whole is not.
//
// # Routing
//
// A region cache, ordered by start key, maps keys to regions; misses ask the
// scheduler. Every request carries the region id, the epoch it was routed
// with and the peer it targets (kvrpcpb.Context), so a store can tell a
// stale route and refuse it. Nothing from a response that carries a region
// error is ever used.
//
// # Retries
//
// Within the caller's context, and at most WithRetryBudget times per request
// (or per region part of a batch or scan), with a wait that doubles from
// the minimum to the maximum backoff (WithBackoff):
//
//   - NotLeader: go to the hinted leader at once; without a hint, wait and
//     try the next peer. A hint naming a peer the region does not have drops
//     the region from the cache.
//   - EpochNotMatch: install the regions the store returned, regroup the
//     request's keys by them, and send again at once.
//   - RegionNotFound, KeyNotInRegion, StoreNotMatch: drop the region, wait,
//     reload it from the scheduler.
//   - ServerIsBusy: wait (at least the store's hint), try the next peer.
//   - StaleCommand and other transient region errors: wait, send again.
//   - Transport errors and per-attempt timeouts (WithRequestTimeout): mark
//     the store for address re-resolution, wait, try the next peer. Reads
//     only: see below for writes.
//
// When the context ends, the call returns an error that wraps both the
// context's error (errors.Is(err, context.DeadlineExceeded)) and the last
// failure (for example a *RegionError). A request never waits past its
// deadline. When the budget runs out the error wraps ErrRetriesExhausted.
//
// A write (Put, Delete, BatchPut, BatchDelete, DeleteRange, CompareAndSwap)
// is never sent twice once it may have reached the store: re-sending a put
// that was applied can apply it again after another client's write of the
// key, reverting that write. The client first checks the connection is up;
// a transport failure or per-attempt timeout after sending, a context that
// ends while the request is in flight, or an UndeterminedResult from the
// store returns an error wrapping ErrUndetermined (errors.Is): the write may
// or may not have been applied, and the caller must read to find out. Writes
// are retried only after definite rejections, region errors a store answers
// before proposing (NotLeader, EpochNotMatch, RegionNotFound, KeyNotInRegion,
// StoreNotMatch, ServerIsBusy, StaleCommand). A batch write with one part of
// unknown outcome returns an error wrapping ErrUndetermined; its other parts
// may have been applied.
//
// # Errors
//
// Calls refused locally return ErrEmptyKey, ErrEmptyValue,
// ErrMismatchedBatch, ErrInvalidRange or ErrScanLimit. A request the store
// refused (bad input, unknown column family) returns a *ServerError, which
// matches ErrServer; it is not retried. Region errors that end a request are
// *RegionError values that match ErrNotLeader, ErrEpochNotMatch,
// ErrRegionNotFound, ErrKeyNotInRegion, ErrServerIsBusy, ErrStaleCommand,
// ErrStoreNotMatch or ErrDiskFull (the stores are low on disk and refuse
// writes; it is not retried).
package client
