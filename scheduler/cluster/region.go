package cluster

import (
	"bytes"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// RegionInfo is an immutable snapshot of one region as its leader last
// reported it. A heartbeat makes a new RegionInfo.
type RegionInfo struct {
	meta         *metapb.Region
	leader       *metapb.Peer
	downPeers    []*pdpb.PeerStats
	pendingPeers []*metapb.Peer
	term         uint64

	ApproximateSize uint64 // bytes
	ApproximateKeys uint64
	// Traffic since the leader's previous heartbeat.
	BytesWritten uint64
	BytesRead    uint64
	KeysWritten  uint64
	KeysRead     uint64
}

// NewRegionInfo wraps meta with leader (which may be nil).
func NewRegionInfo(meta *metapb.Region, leader *metapb.Peer) *RegionInfo {
	if meta.RegionEpoch == nil {
		meta.RegionEpoch = &metapb.RegionEpoch{}
	}
	return &RegionInfo{meta: meta, leader: leader}
}

// RegionFromHeartbeat wraps a region heartbeat.
func RegionFromHeartbeat(req *pdpb.RegionHeartbeatRequest) *RegionInfo {
	r := NewRegionInfo(req.Region, req.Leader)
	r.downPeers = req.DownPeers
	r.pendingPeers = req.PendingPeers
	r.term = req.Term
	r.ApproximateSize = req.ApproximateSize
	r.ApproximateKeys = req.ApproximateKeys
	r.BytesWritten = req.BytesWritten
	r.BytesRead = req.BytesRead
	r.KeysWritten = req.KeysWritten
	r.KeysRead = req.KeysRead
	return r
}

// WithDownPeers returns a copy of r with down peers set (tests and tools).
func (r *RegionInfo) WithDownPeers(down []*pdpb.PeerStats) *RegionInfo {
	c := *r
	c.downPeers = down
	return &c
}

// WithPendingPeers returns a copy of r with pending peers set.
func (r *RegionInfo) WithPendingPeers(p []*metapb.Peer) *RegionInfo {
	c := *r
	c.pendingPeers = p
	return &c
}

// ID is the region ID.
func (r *RegionInfo) ID() uint64 { return r.meta.Id }

// Meta is the region's metadata; callers must not modify it.
func (r *RegionInfo) Meta() *metapb.Region { return r.meta }

// Epoch is the region's epoch.
func (r *RegionInfo) Epoch() *metapb.RegionEpoch { return r.meta.RegionEpoch }

// StartKey and EndKey bound the region; an empty EndKey is +infinity.
func (r *RegionInfo) StartKey() []byte { return r.meta.StartKey }
func (r *RegionInfo) EndKey() []byte   { return r.meta.EndKey }

// Leader is the leader peer, nil if unknown.
func (r *RegionInfo) Leader() *metapb.Peer { return r.leader }

// LeaderStoreID is the leader's store, 0 if unknown.
func (r *RegionInfo) LeaderStoreID() uint64 { return r.leader.GetStoreId() }

// Term is the leader's Raft term at the heartbeat.
func (r *RegionInfo) Term() uint64 { return r.term }

// Peers are the region's peers.
func (r *RegionInfo) Peers() []*metapb.Peer { return r.meta.Peers }

// DownPeers and PendingPeers are what the leader reported.
func (r *RegionInfo) DownPeers() []*pdpb.PeerStats { return r.downPeers }
func (r *RegionInfo) PendingPeers() []*metapb.Peer { return r.pendingPeers }

// StorePeer returns the region's peer on store, or nil.
func (r *RegionInfo) StorePeer(storeID uint64) *metapb.Peer {
	for _, p := range r.meta.Peers {
		if p.StoreId == storeID {
			return p
		}
	}
	return nil
}

// Followers are the peers other than the leader.
func (r *RegionInfo) Followers() []*metapb.Peer {
	out := make([]*metapb.Peer, 0, len(r.meta.Peers))
	for _, p := range r.meta.Peers {
		if p.Id != r.leader.GetId() {
			out = append(out, p)
		}
	}
	return out
}

// IsDown reports whether the leader reported peer as down.
func (r *RegionInfo) IsDown(peerID uint64) bool {
	for _, d := range r.downPeers {
		if d.Peer.GetId() == peerID {
			return true
		}
	}
	return false
}

// IsPending reports whether the leader reported peer as pending.
func (r *RegionInfo) IsPending(peerID uint64) bool {
	for _, p := range r.pendingPeers {
		if p.Id == peerID {
			return true
		}
	}
	return false
}

// SizeMiB is the approximate size in MiB, at least 1 so that empty regions
// still count when balancing.
func (r *RegionInfo) SizeMiB() int64 { return max(int64(r.ApproximateSize>>20), 1) }

// Contains reports whether key is in [start, end).
func (r *RegionInfo) Contains(key []byte) bool {
	return bytes.Compare(key, r.meta.StartKey) >= 0 &&
		(len(r.meta.EndKey) == 0 || bytes.Compare(key, r.meta.EndKey) < 0)
}

// Response converts r to the pdpb shape of GetRegion and ScanRegions.
func (r *RegionInfo) Response() *pdpb.Region {
	return &pdpb.Region{Region: r.meta, Leader: r.leader, DownPeers: r.downPeers, PendingPeers: r.pendingPeers}
}

// metaEqual reports whether a and b have the same keys, epoch and peers.
func metaEqual(a, b *metapb.Region) bool {
	if !bytes.Equal(a.StartKey, b.StartKey) || !bytes.Equal(a.EndKey, b.EndKey) ||
		a.RegionEpoch.GetVersion() != b.RegionEpoch.GetVersion() ||
		a.RegionEpoch.GetConfVer() != b.RegionEpoch.GetConfVer() || len(a.Peers) != len(b.Peers) {
		return false
	}
	for i := range a.Peers {
		if !PeerEqual(a.Peers[i], b.Peers[i]) {
			return false
		}
	}
	return true
}

// PeerEqual compares two peers field by field.
func PeerEqual(a, b *metapb.Peer) bool {
	return a.GetId() == b.GetId() && a.GetStoreId() == b.GetStoreId() &&
		a.GetRole() == b.GetRole() && a.GetIsWitness() == b.GetIsWitness()
}

// cloneStore copies a store's meta; labels are shared and never modified.
func cloneStore(m *metapb.Store) *metapb.Store {
	c := *m
	return &c
}
