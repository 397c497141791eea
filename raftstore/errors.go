package raftstore

import (
	"errors"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Sentinel errors. Region errors that travel to clients are *errorpb.Error
// values in command responses, not Go errors; these are for the store's own
// callers.
var (
	ErrInvalidConfig = errors.New("raftstore: invalid config")
	ErrStopped       = errors.New("raftstore: store stopped")
	ErrCorrupt       = errors.New("raftstore: corrupt state on disk")
	ErrSnapshot      = errors.New("raftstore: bad snapshot")
	// ErrUnreachable: the transport could not queue a message to a store.
	ErrUnreachable = errors.New("raftstore: store unreachable")
)

func errNotLeader(regionID uint64, leader *metapb.Peer) *errorpb.Error {
	return &errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{RegionId: regionID, Leader: leader}}
}

func errRegionNotFound(regionID uint64) *errorpb.Error {
	return &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{RegionId: regionID}}
}

func errKeyNotInRegion(key []byte, r *metapb.Region) *errorpb.Error {
	return &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{
		Key: key, RegionId: r.Id, StartKey: r.StartKey, EndKey: r.EndKey}}
}

func errEpochNotMatch(current ...*metapb.Region) *errorpb.Error {
	return &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: current}}
}

func errStaleCommand() *errorpb.Error {
	return &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}
}

func errServerIsBusy(reason string) *errorpb.Error {
	return &errorpb.Error{Message: "server is busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: reason, BackoffMs: 10}}
}

func errStoreNotMatch(req, actual uint64) *errorpb.Error {
	return &errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: req, ActualStoreId: actual}}
}

// errUndetermined answers a proposal whose fate is unknown: it may or may
// not have been applied (the peer was replaced by a snapshot, or the store
// stopped). Clients must not assume either.
func errUndetermined(msg string) *errorpb.Error {
	return &errorpb.Error{Message: msg, UndeterminedResult: &errorpb.UndeterminedResult{Message: msg}}
}
