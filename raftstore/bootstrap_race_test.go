package raftstore

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// lostBootstrapRace is a scheduler that refuses our bootstrap with
// ALREADY_BOOTSTRAPPED while IsBootstrapped still says false (the winner's
// region not yet loaded), as the real scheduler could.
type lostBootstrapRace struct {
	SchedulerClient // nil: bootstrap calls only the methods below
	ids             uint64
}

func (r *lostBootstrapRace) AllocID(context.Context) (uint64, error) {
	r.ids++
	return 100 + r.ids, nil
}
func (*lostBootstrapRace) GetClusterID(context.Context) uint64 { return 1 }

func (*lostBootstrapRace) IsBootstrapped(context.Context) (bool, error) { return false, nil }
func (*lostBootstrapRace) Bootstrap(context.Context, *metapb.Store, *metapb.Region) error {
	return ErrAlreadyBootstrapped
}

// TestBootstrapLostRace: a store refused with ALREADY_BOOTSTRAPPED takes
// its identity and drops its prepared region instead of failing to start.
func TestBootstrapLostRace(t *testing.T) {
	e, err := engine.Open(t.TempDir(), engine.Options{MemTableSize: 1 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg := DefaultConfig()
	cfg.Logger = zap.NewNop()
	s, err := NewStore(cfg, e, &lostBootstrapRace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.bootstrap(context.Background()); err != nil {
		t.Fatalf("bootstrap after losing the race: %v", err)
	}
	if _, err := LoadStoreIdent(e); err != nil {
		t.Fatalf("no store identity: %v", err)
	}
	if s.storeID == 0 {
		t.Fatal("store id not set")
	}
	if err := s.loadPeers(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.router.regionIDs()); n != 0 {
		t.Fatalf("the loser kept %d prepared regions", n)
	}
}
