package raftstore

import (
	"testing"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// Helpers of the raftstore unit tests: real engines in a temp dir, and a
// store built by NewStore but never started (no goroutines), whose parts
// the tests drive by hand.

const testRegionID = 2

func testRegion(start, end string) *metapb.Region {
	r := &metapb.Region{Id: testRegionID, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	for i := uint64(1); i <= 3; i++ {
		r.Peers = append(r.Peers, &metapb.Peer{Id: 10 + i, StoreId: i})
	}
	return r
}

// testEngines opens engines in a temp dir, bootstrapped as store 1 with
// region (if not nil) prepared at index 5.
func testEngines(t *testing.T, region *metapb.Region) *engine.Engines {
	t.Helper()
	e, err := engine.Open(t.TempDir(), engine.Options{MemTableSize: 1 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := BootstrapStore(e, 1, 1); err != nil {
		t.Fatal(err)
	}
	if region != nil {
		if err := PrepareBootstrapRegion(e, region); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// testStore is a store over e that is never started.
func testStore(t *testing.T, e *engine.Engines) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Logger = zap.NewNop()
	s, err := NewStore(cfg, e, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestPeerStorage(t *testing.T, s *Store, region *metapb.Region, cacheLimit int) *peerStorage {
	t.Helper()
	ps, err := newPeerStorage(s.engines, region, cacheLimit, s.snaps, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func ents(term uint64, lo, hi uint64) []eraftpb.Entry {
	var out []eraftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, eraftpb.Entry{Index: i, Term: term, Data: []byte{byte(i)}})
	}
	return out
}

func putEntry(t *testing.T, region *metapb.Region, index, term uint64, key, value string) eraftpb.Entry {
	t.Helper()
	req := &raft_cmdpb.RaftCmdRequest{
		Header: &raft_cmdpb.RaftRequestHeader{RegionId: region.Id, RegionEpoch: region.RegionEpoch},
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Put,
			Put: &raft_cmdpb.PutRequest{Key: []byte(key), Value: []byte(value)}}},
	}
	data, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return eraftpb.Entry{Index: index, Term: term, Data: data}
}
