package server

import (
	"errors"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/client"
)

func bootstrapOne(t *testing.T, c client.Client) {
	t.Helper()
	ctx := ctxT(t)
	store := &metapb.Store{Id: 1, Address: "127.0.0.1:20160"}
	region := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	if err := c.Bootstrap(ctx, store, region); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
}

func TestBootstrapAndIDs(t *testing.T) {
	s := startServer(t, testConfig(t, "s1"))
	waitLeader(t, s)
	c := newClient(t, s.Addr())
	ctx := ctxT(t)
	if got := c.GetClusterID(ctx); got != s.ClusterID() || got == 0 {
		t.Fatalf("cluster id %d, server %d", got, s.ClusterID())
	}
	ok, err := c.IsBootstrapped(ctx)
	if err != nil || ok {
		t.Fatalf("IsBootstrapped before = %v, %v", ok, err)
	}
	if _, err := c.GetAllStores(ctx, false); !errors.Is(err, client.ErrNotBootstrapped) {
		t.Fatalf("GetAllStores before bootstrap: %v", err)
	}
	bootstrapOne(t, c)
	ok, err = c.IsBootstrapped(ctx)
	if err != nil || !ok {
		t.Fatalf("IsBootstrapped after = %v, %v", ok, err)
	}
	err = c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "x:1"}, &metapb.Region{Id: 2, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}})
	if !errors.Is(err, client.ErrAlreadyBootstrapped) {
		t.Fatalf("second bootstrap: %v", err)
	}
	seen := map[uint64]bool{}
	for range 2500 {
		id, err := c.AllocID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] || id == 0 {
			t.Fatalf("id %d repeated or zero", id)
		}
		seen[id] = true
	}
}

func region(id uint64, start, end string, confVer, version uint64, peers ...*metapb.Peer) *metapb.Region {
	return &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version}, Peers: peers}
}

func peer(id, store uint64) *metapb.Peer { return &metapb.Peer{Id: id, StoreId: store} }
