package raftstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// ErrNotBootstrapped: the store has no identity yet.
var ErrNotBootstrapped = errors.New("raftstore: store not bootstrapped")

// LoadStoreIdent returns the store's identity, or ErrNotBootstrapped.
func LoadStoreIdent(e *engine.Engines) (*rspb.StoreIdent, error) {
	var id rspb.StoreIdent
	ok, err := engine.GetMeta(e.KV, engine.StoreIdentKey(), &id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotBootstrapped
	}
	return &id, nil
}

// BootstrapStore writes the store's identity. It fails if the store has
// one, or holds any data (a store must start empty).
func BootstrapStore(e *engine.Engines, clusterID, storeID uint64) error {
	if _, err := LoadStoreIdent(e); err == nil {
		return fmt.Errorf("raftstore: store already bootstrapped")
	}
	var wb engine.WriteBatch
	if err := wb.SetMeta(engine.StoreIdentKey(), &rspb.StoreIdent{ClusterId: clusterID, StoreId: storeID}); err != nil {
		return err
	}
	return e.WriteKV(&wb, true)
}

// PrepareBootstrapRegion writes the first region (or any region created
// with data) on a store: its region state, and raft and apply state at
// TiKV's initial index and term 5.
func PrepareBootstrapRegion(e *engine.Engines, region *metapb.Region) error {
	var kv, rf engine.WriteBatch
	if err := kv.SetMeta(engine.RegionStateKey(region.Id), &rspb.RegionLocalState{State: rspb.PeerState_Normal, Region: region}); err != nil {
		return err
	}
	if err := kv.SetMeta(engine.ApplyStateKey(region.Id), &rspb.RaftApplyState{AppliedIndex: raftInitLogIndex,
		TruncatedState: &rspb.RaftTruncatedState{Index: raftInitLogIndex, Term: raftInitLogTerm}}); err != nil {
		return err
	}
	if err := rf.SetMeta(engine.RaftStateKey(region.Id), &rspb.RaftLocalState{
		HardState: &eraftpb.HardState{Term: raftInitLogTerm, Commit: raftInitLogIndex}, LastIndex: raftInitLogIndex}); err != nil {
		return err
	}
	// Raft first: a kv region state without raft state would load as a
	// peer at index 0 with a truncated state at 5, which loading repairs
	// anyway; the order just keeps the common crash case clean.
	if err := e.WriteRaft(&rf, true); err != nil {
		return err
	}
	return e.WriteKV(&kv, true)
}

// clearPreparedRegion removes a prepared first region after the scheduler
// refused our bootstrap (another store won).
func clearPreparedRegion(e *engine.Engines, regionID uint64) error {
	var kv, rf engine.WriteBatch
	_ = kv.Delete(engine.RegionStateKey(regionID))
	_ = kv.Delete(engine.ApplyStateKey(regionID))
	_ = rf.Delete(engine.RaftStateKey(regionID))
	if err := e.WriteKV(&kv, true); err != nil {
		return err
	}
	return e.WriteRaft(&rf, true)
}

// bootstrap gives a new store its identity from the scheduler and, if the
// cluster is not bootstrapped, creates the first region covering the whole
// key space with a single peer here.
func (s *Store) bootstrap(ctx context.Context) error {
	ident, err := LoadStoreIdent(s.engines)
	if err == nil {
		s.storeID = ident.StoreId
		return nil
	}
	if !errors.Is(err, ErrNotBootstrapped) {
		return err
	}
	storeID, err := s.scheduler.AllocID(ctx)
	if err != nil {
		return fmt.Errorf("raftstore: alloc store id: %w", err)
	}
	booted, err := s.scheduler.IsBootstrapped(ctx)
	if err != nil {
		return err
	}
	if !booted {
		regionID, err := s.scheduler.AllocID(ctx)
		if err != nil {
			return err
		}
		peerID, err := s.scheduler.AllocID(ctx)
		if err != nil {
			return err
		}
		region := &metapb.Region{Id: regionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
			Peers: []*metapb.Peer{{Id: peerID, StoreId: storeID}}}
		if err := PrepareBootstrapRegion(s.engines, region); err != nil {
			return err
		}
		if err := s.scheduler.Bootstrap(ctx, s.cfg.storeMeta(storeID), region); err != nil {
			// ALREADY_BOOTSTRAPPED can come before IsBootstrapped says so:
			// the scheduler refuses the loser once the winner's metadata is
			// in etcd, but reports the cluster bootstrapped only after it
			// loaded the winner's region.
			if again, _ := s.scheduler.IsBootstrapped(ctx); !again && !errors.Is(err, ErrAlreadyBootstrapped) {
				return fmt.Errorf("raftstore: bootstrap cluster: %w", err)
			}
			// Another store won the race.
			if err := clearPreparedRegion(s.engines, regionID); err != nil {
				return err
			}
		}
	}
	if err := BootstrapStore(s.engines, s.scheduler.GetClusterID(ctx), storeID); err != nil {
		return err
	}
	s.storeID = storeID
	return nil
}
