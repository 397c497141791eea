// Package replicacheck compares what the stores of a cluster hold on disk,
// offline, once every store has stopped cleanly:
//
//   - every replica of a region (every store its newest membership names)
//     is there, with that membership and range, at the same applied index,
//     holding the same data in every column family;
//   - no store holds data outside the regions it serves (its live region
//     states: Normal or Applying, naming the store among the peers). That
//     is what a lifecycle race leaves behind: a destroy or a snapshot that
//     cleared too little, a split whose new region never got a peer;
//   - no store holds two live regions whose ranges overlap, none is left
//     in the middle of applying a snapshot, and every live region has its
//     apply state.
//
// A stale replica — one on a store its region's newest membership no
// longer names, whose peer has not learned of its removal yet — is
// legitimate (it goes once it hears from the region or the scheduler), so
// it is listed but not compared. A destroy in progress is legitimate too
// while a store runs, but not after a clean stop that followed a settled
// cluster: a store stops only after the apply task in hand, and the caller
// must stop the stores once every region's replicas have applied the same
// index and no destroy is pending (kv/server's GET /regions shows both).
// Whatever a store holds then is what it would serve after a restart.
//
// The data of each replica is read into memory: this is for test clusters.
package replicacheck

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// KV is one user key of one column family and its value.
type KV struct {
	CF         string
	Key, Value []byte
}

// Replica is one store's copy of one region, as its engines hold it.
type Replica struct {
	StoreID uint64
	Region  *metapb.Region // from the region state
	State   rspb.PeerState // Normal or Applying
	// Applied is the kv DB's applied index (HasApplyState says whether the
	// apply state was there at all); Commit and LastIndex come from the raft
	// DB's raft state (0 when it is missing).
	Applied, Commit, LastIndex uint64
	HasApplyState              bool
	// Data is every key of the region's range, in column-family order
	// (engine.CFs) and then key order; Hash digests it.
	Data []KV
	Hash [sha256.Size]byte
}

// Store is what one store holds on disk.
type Store struct {
	ID uint64
	// Replicas are the live regions: Normal or Applying region states that
	// name this store among their peers (the peers a restart would load),
	// by region ID.
	Replicas []*Replica
	// Dead are the other region states: tombstones, and Normal states that
	// no longer name this store. They own no data.
	Dead []*rspb.RegionLocalState
	// Unowned is the data that lies in no replica's range.
	Unowned []KV
}

// LoadDir opens a stopped store's engines in dir, loads them and closes
// them. Opening fails (engine.ErrDataDirLocked) while a process still holds
// the dir.
func LoadDir(dir string) (*Store, error) {
	e, err := engine.Open(dir, engine.Options{NoSync: true, MemTableSize: 8 << 20, BlockCacheSize: 8 << 20})
	if err != nil {
		return nil, err
	}
	s, err := Load(e)
	if cerr := e.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return s, err
}

// Load reads a store's identity, region states, apply and raft states and
// data from engines nothing else writes.
func Load(e *engine.Engines) (*Store, error) {
	snap, err := e.NewSnapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var ident rspb.StoreIdent
	if ok, err := snap.GetMeta(engine.StoreIdentKey(), &ident); err != nil {
		return nil, err
	} else if !ok || ident.StoreId == 0 {
		return nil, fmt.Errorf("replicacheck: %s holds no store ident", e.Dir())
	}
	s := &Store{ID: ident.StoreId}
	err = snap.ScanInternal(engine.RegionMetaPrefix(), func(k, v []byte) error {
		if _, err := engine.DecodeRegionStateKey(k); err != nil {
			return nil // not a region state
		}
		st := &rspb.RegionLocalState{}
		if err := st.Unmarshal(v); err != nil {
			return fmt.Errorf("replicacheck: store %d: region state %x: %w", s.ID, k, err)
		}
		if st.Region == nil {
			return fmt.Errorf("replicacheck: store %d: region state %x without a region", s.ID, k)
		}
		if st.State == rspb.PeerState_Tombstone || !names(st.Region, s.ID) {
			s.Dead = append(s.Dead, st)
			return nil
		}
		s.Replicas = append(s.Replicas, &Replica{StoreID: s.ID, Region: st.Region, State: st.State})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range s.Replicas {
		if err := loadReplica(e, snap, r); err != nil {
			return nil, fmt.Errorf("replicacheck: store %d region %d: %w", s.ID, r.Region.Id, err)
		}
	}
	s.Unowned, err = scan(snap, nil, nil, func(key []byte) bool { return s.owner(key) == nil })
	if err != nil {
		return nil, err
	}
	return s, nil
}

func loadReplica(e *engine.Engines, snap *engine.Snapshot, r *Replica) error {
	var as rspb.RaftApplyState
	var err error
	if r.HasApplyState, err = snap.GetMeta(engine.ApplyStateKey(r.Region.Id), &as); err != nil {
		return err
	}
	var rs rspb.RaftLocalState
	if _, err := engine.GetMeta(e.Raft, engine.RaftStateKey(r.Region.Id), &rs); err != nil {
		return err
	}
	r.Applied, r.Commit, r.LastIndex = as.AppliedIndex, rs.HardState.GetCommit(), rs.LastIndex
	if r.Data, err = scan(snap, r.Region.StartKey, r.Region.EndKey, nil); err != nil {
		return err
	}
	r.Hash = digest(r.Data)
	return nil
}

// scan reads [start, end) of every CF, keeping the keys keep accepts (all
// when nil).
func scan(snap *engine.Snapshot, start, end []byte, keep func(key []byte) bool) ([]KV, error) {
	var out []KV
	for _, cf := range engine.CFs {
		it, err := snap.NewCFIterator(cf, engine.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return nil, err
		}
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Key()
			if keep != nil && !keep(k) {
				continue
			}
			v, err := it.Value()
			if err != nil {
				it.Close()
				return nil, err
			}
			out = append(out, KV{CF: cf, Key: k, Value: v})
		}
		err = it.Err()
		it.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// digest hashes data unambiguously: each pair is its CF's index and the
// length-prefixed key and value.
func digest(data []KV) [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	for _, kv := range data {
		buf = append(buf[:0], byte(cfIndex(kv.CF)))
		buf = binary.AppendUvarint(buf, uint64(len(kv.Key)))
		buf = append(buf, kv.Key...)
		buf = binary.AppendUvarint(buf, uint64(len(kv.Value)))
		buf = append(buf, kv.Value...)
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func cfIndex(cf string) int { return slices.Index(engine.CFs, cf) }

// owner returns the replica whose range holds key, or nil.
func (s *Store) owner(key []byte) *Replica {
	for _, r := range s.Replicas {
		if inRange(key, r.Region.StartKey, r.Region.EndKey) {
			return r
		}
	}
	return nil
}

// deadOwner returns the dead region state whose range holds key, or nil:
// where unowned data most likely comes from.
func (s *Store) deadOwner(key []byte) *rspb.RegionLocalState {
	for _, d := range s.Dead {
		if inRange(key, d.Region.StartKey, d.Region.EndKey) {
			return d
		}
	}
	return nil
}

func inRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (len(end) == 0 || bytes.Compare(key, end) < 0)
}

// names reports whether r has a peer on store.
func names(r *metapb.Region, store uint64) bool {
	for _, p := range r.Peers {
		if p.StoreId == store {
			return true
		}
	}
	return false
}
