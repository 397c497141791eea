package raftstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// regionsTimeout bounds one GET /regions: every peer answers through its
// mailbox, in its next raft round.
const regionsTimeout = 5 * time.Second

// RegionsView is the answer of a store's GET /regions (status address): what
// each of its region peers says of itself, read-only. Tools and tests use it
// to wait until every replica of a region has applied the same log, e.g.
// before stopping a cluster to compare its stores' data.
type RegionsView struct {
	StoreID uint64     `json:"store-id"`
	Peers   []PeerView `json:"peers"` // by region ID
	// Ranges are the regions whose key range this store holds: its
	// initialized peers, and regions whose data is still being destroyed
	// (their peer is gone already). A region listed here without an
	// initialized peer in Peers is being destroyed.
	Ranges []uint64 `json:"ranges"` // ascending
}

// PeerView is one peer of a RegionsView, as its raft worker saw it.
type PeerView struct {
	RegionID uint64 `json:"region-id"`
	PeerID   uint64 `json:"peer-id"`
	// Initialized: the peer has the region's range and data (created by
	// bootstrap, a split or a snapshot); an uninitialized peer waits for its
	// first snapshot and knows no range or membership yet.
	Initialized bool `json:"initialized"`
	// StartKey and EndKey are hex; "" is unbounded.
	StartKey  string       `json:"start-key"`
	EndKey    string       `json:"end-key"`
	ConfVer   uint64       `json:"conf-ver"`
	Version   uint64       `json:"version"`
	Members   []MemberView `json:"members"`
	Leader    bool         `json:"leader"` // this peer leads
	LeaderID  uint64       `json:"leader-id"`
	Term      uint64       `json:"term"`
	Commit    uint64       `json:"commit"`
	Applied   uint64       `json:"applied"`
	LastIndex uint64       `json:"last-index"`
	Truncated uint64       `json:"truncated-index"`
}

// MemberView is one peer of a region's membership.
type MemberView struct {
	PeerID  uint64 `json:"peer-id"`
	StoreID uint64 `json:"store-id"`
}

// regionSource is what the regions handler needs of a Store.
type regionSource interface {
	StoreID() uint64
	RegionIDs() []uint64
	PeerStatus(ctx context.Context, regionID uint64) (PeerStatus, error)
	Regions() []*metapb.Region
}

// RegionsHandler serves GET /regions on a store's status address.
func RegionsHandler(s *Store) http.Handler { return regionsHandler(s) }

// regionsHandler serves GET /regions. A region whose peer goes away between
// listing and asking is left out; a peer that does not answer in time fails
// the request (503), so a caller never mistakes a partial view for a whole.
func regionsHandler(src regionSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), regionsTimeout)
		defer cancel()
		v, err := regionsView(ctx, src)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

func regionsView(ctx context.Context, src regionSource) (RegionsView, error) {
	v := RegionsView{StoreID: src.StoreID(), Peers: []PeerView{}, Ranges: []uint64{}}
	// Ranges first: a region created between the two reads then shows as a
	// peer without a range (not yet settled), never as a range without a
	// peer (which would read as a destroy).
	for _, r := range src.Regions() {
		v.Ranges = append(v.Ranges, r.Id)
	}
	slices.Sort(v.Ranges)
	ids := src.RegionIDs()
	slices.Sort(ids)
	for _, id := range ids {
		st, err := src.PeerStatus(ctx, id)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrStopped) {
				return RegionsView{}, err
			}
			continue // destroyed since listed
		}
		v.Peers = append(v.Peers, peerView(id, st))
	}
	return v, nil
}

func peerView(id uint64, st PeerStatus) PeerView {
	pv := PeerView{RegionID: id, PeerID: st.PeerID, Leader: st.Leader, LeaderID: st.LeaderID, Term: st.Term,
		Commit: st.Commit, Applied: st.Applied, LastIndex: st.LastIndex, Truncated: st.Truncated, Members: []MemberView{}}
	if r := st.Region; r != nil {
		pv.Initialized = len(r.Peers) > 0
		pv.StartKey, pv.EndKey = hex.EncodeToString(r.StartKey), hex.EncodeToString(r.EndKey)
		pv.ConfVer, pv.Version = r.RegionEpoch.GetConfVer(), r.RegionEpoch.GetVersion()
		for _, p := range r.Peers {
			pv.Members = append(pv.Members, MemberView{PeerID: p.Id, StoreID: p.StoreId})
		}
	}
	return pv
}
