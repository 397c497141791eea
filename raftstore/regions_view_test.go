package raftstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// fakeRegions is a store whose peers answer from a table; a region missing
// from peers was destroyed after RegionIDs listed it.
type fakeRegions struct {
	ids    []uint64
	peers  map[uint64]PeerStatus
	ranges []*metapb.Region
	err    error // returned by every PeerStatus when set
}

func (f *fakeRegions) StoreID() uint64           { return 4 }
func (f *fakeRegions) RegionIDs() []uint64       { return append([]uint64(nil), f.ids...) }
func (f *fakeRegions) Regions() []*metapb.Region { return f.ranges }
func (f *fakeRegions) PeerStatus(_ context.Context, id uint64) (PeerStatus, error) {
	if f.err != nil {
		return PeerStatus{}, f.err
	}
	st, ok := f.peers[id]
	if !ok {
		return PeerStatus{}, fmt.Errorf("raftstore: region %d not found", id)
	}
	return st, nil
}

// TestRegionsEndpoint: GET /regions lists every peer that answers, sorted,
// with its range in hex, epoch, membership and indexes; a peer destroyed
// since the listing is left out; the ranges list keeps a region whose peer
// is gone (a destroy in progress); a stopped store answers 503.
func TestRegionsEndpoint(t *testing.T) {
	r2 := &metapb.Region{Id: 2, StartKey: []byte("a"), EndKey: []byte("m"),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2},
		Peers:       []*metapb.Peer{{Id: 21, StoreId: 4}, {Id: 22, StoreId: 5}}}
	src := &fakeRegions{
		ids: []uint64{9, 2, 7},
		peers: map[uint64]PeerStatus{
			2: {Region: r2, PeerID: 21, Leader: true, LeaderID: 21, Term: 6, Commit: 40, Applied: 39, Truncated: 5, LastIndex: 41},
			9: {Region: &metapb.Region{Id: 9}, PeerID: 90, Term: 1},
		},
		ranges: []*metapb.Region{{Id: 7}, r2},
	}
	srv := httptest.NewServer(regionsHandler(src))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var got RegionsView
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /regions: status %d, decode %v", resp.StatusCode, err)
	}
	want := RegionsView{StoreID: 4, Ranges: []uint64{2, 7}, Peers: []PeerView{
		{RegionID: 2, PeerID: 21, Initialized: true, StartKey: "61", EndKey: "6d", ConfVer: 3, Version: 2,
			Members: []MemberView{{21, 4}, {22, 5}}, Leader: true, LeaderID: 21, Term: 6, Commit: 40, Applied: 39,
			LastIndex: 41, Truncated: 5},
		{RegionID: 9, PeerID: 90, Members: []MemberView{}, Term: 1},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET /regions =\n%+v\nwant\n%+v", got, want)
	}

	src.err = ErrStopped
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /regions of a stopped store: status %d, want 503", resp.StatusCode)
	}
}
