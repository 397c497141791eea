package client

import (
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
)

// Errors of bad calls, returned before anything is sent.
var (
	ErrEmptyKey        = errors.New("client: key must not be empty")
	ErrEmptyValue      = errors.New("client: value must not be empty")
	ErrMismatchedBatch = errors.New("client: keys and values differ in number")
	ErrInvalidRange    = errors.New("client: invalid key range")
	ErrScanLimit       = errors.New("client: scan limit out of range")
	ErrClosed          = errors.New("client: closed")
)

// Errors that end a request which was sent.
var (
	// ErrServer matches every *ServerError: the store refused the request
	// itself (bad input, unknown column family, storage failure). Retrying
	// the same request gets the same answer.
	ErrServer = errors.New("client: store refused the request")
	// ErrRetriesExhausted: the retry budget ran out before the request
	// succeeded. The error also wraps the last failure seen.
	ErrRetriesExhausted = errors.New("client: retry budget exhausted")
	// ErrUndetermined: a write (put, delete, batch write, delete range,
	// compare-and-swap) may or may not have been applied: the connection
	// failed or the attempt timed out after the request was sent, or the
	// store said so. It is not retried: a re-sent put could apply after a
	// later write of another client and revert it, and a re-sent swap could
	// report "not swapped" for a swap that the first attempt made.
	ErrUndetermined = errors.New("client: outcome of the request is unknown")
	// ErrNoPeer: the region has no peer the client can send to.
	ErrNoPeer = errors.New("client: region has no reachable peer")
)

// Categories of *RegionError, for errors.Is. A region error is returned only
// when retries end (deadline, budget) or when it cannot be retried; it is
// wrapped with the reason.
var (
	ErrNotLeader         = errors.New("client: not leader")
	ErrEpochNotMatch     = errors.New("client: region epoch not match")
	ErrRegionNotFound    = errors.New("client: region not found")
	ErrKeyNotInRegion    = errors.New("client: key not in region")
	ErrServerIsBusy      = errors.New("client: server is busy")
	ErrStaleCommand      = errors.New("client: stale command")
	ErrStoreNotMatch     = errors.New("client: store not match")
	ErrRegionUnavailable = errors.New("client: region unavailable")
	// ErrDiskFull: the region's stores are low on disk and refuse writes
	// until an operator frees space (reads still work).
	ErrDiskFull = errors.New("client: disk full")
)

// ServerError is a failure the store reported in a response's error text.
type ServerError struct {
	Op      string // the RPC, e.g. "RawPut"
	Message string // the store's words
}

func (e *ServerError) Error() string { return fmt.Sprintf("client: %s: %s", e.Op, e.Message) }

// Is makes every ServerError match ErrServer.
func (e *ServerError) Is(target error) bool { return target == ErrServer }

// RegionError is a region error a store answered with (errorpb.Error), with
// the region and store it concerned.
type RegionError struct {
	RegionID, StoreID uint64
	Err               *errorpb.Error
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("client: region %d on store %d: %s", e.RegionID, e.StoreID, describeRegionError(e.Err))
}

// Is maps the region error to its category sentinel.
func (e *RegionError) Is(target error) bool {
	r := e.Err
	switch target {
	case ErrNotLeader:
		return r.NotLeader != nil
	case ErrEpochNotMatch:
		return r.EpochNotMatch != nil
	case ErrRegionNotFound:
		return r.RegionNotFound != nil
	case ErrKeyNotInRegion:
		return r.KeyNotInRegion != nil
	case ErrServerIsBusy:
		return r.ServerIsBusy != nil
	case ErrStaleCommand:
		return r.StaleCommand != nil
	case ErrStoreNotMatch:
		return r.StoreNotMatch != nil
	case ErrUndetermined:
		return r.UndeterminedResult != nil
	case ErrDiskFull:
		return r.DiskFull != nil
	}
	return false
}

// describeRegionError names the variant set in e, for messages.
func describeRegionError(e *errorpb.Error) string {
	kind := "region error"
	switch {
	case e.NotLeader != nil:
		kind = fmt.Sprintf("not leader (hint: %v)", e.NotLeader.Leader)
	case e.EpochNotMatch != nil:
		kind = fmt.Sprintf("epoch not match (%d current regions)", len(e.EpochNotMatch.CurrentRegions))
	case e.RegionNotFound != nil:
		kind = "region not found"
	case e.KeyNotInRegion != nil:
		kind = fmt.Sprintf("key %q not in region [%q, %q)", e.KeyNotInRegion.Key, e.KeyNotInRegion.StartKey, e.KeyNotInRegion.EndKey)
	case e.ServerIsBusy != nil:
		kind = fmt.Sprintf("server is busy: %s", e.ServerIsBusy.Reason)
	case e.StaleCommand != nil:
		kind = "stale command"
	case e.StoreNotMatch != nil:
		kind = fmt.Sprintf("store not match (request store %d, actual %d)", e.StoreNotMatch.RequestStoreId, e.StoreNotMatch.ActualStoreId)
	case e.UndeterminedResult != nil:
		kind = "undetermined result"
	case e.DiskFull != nil:
		kind = fmt.Sprintf("disk full on stores %v (%s)", e.DiskFull.StoreId, e.DiskFull.Reason)
	}
	if e.Message != "" {
		return kind + ": " + e.Message
	}
	return kind
}
