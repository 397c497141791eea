package server

import (
	"testing"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/raftstore"
)

// TestRaftstoreConfigDefaultsAgree: the store config's defaults are
// raftstore's, so a `regionkv server` without a [raftstore] table runs
// exactly raftstore.DefaultConfig.
func TestRaftstoreConfigDefaultsAgree(t *testing.T) {
	got, want := raftstoreConfig(config.DefaultRaftstore()), raftstore.DefaultConfig()
	if got.RaftBaseTickInterval != want.RaftBaseTickInterval || got.StoreHeartbeatInterval != want.StoreHeartbeatInterval ||
		got.RegionHeartbeatTicks != want.RegionHeartbeatTicks || got.RegionMaxSize != want.RegionMaxSize ||
		got.RegionSplitSize != want.RegionSplitSize || got.RegionMaxKeys != want.RegionMaxKeys ||
		got.RegionSplitKeys != want.RegionSplitKeys || got.HibernateRegions != want.HibernateRegions ||
		got.ElectionTicks != want.ElectionTicks || got.HeartbeatTicks != want.HeartbeatTicks ||
		got.RaftWorkers != want.RaftWorkers || got.ApplyWorkers != want.ApplyWorkers ||
		got.RaftLogGCTickInterval != want.RaftLogGCTickInterval || got.RaftLogGCCountLimit != want.RaftLogGCCountLimit ||
		got.RaftLogGCSizeLimit != want.RaftLogGCSizeLimit || got.ReserveSpace != want.ReserveSpace {
		t.Fatalf("kv/config raftstore defaults disagree with raftstore.DefaultConfig:\n got %+v\nwant %+v", got, want)
	}
}

// TestLoadSplitConfigDefaultsAgree: the [split] table's defaults are
// raftstore's, and turning both thresholds off turns load-based split off
// rather than taking the defaults back.
func TestLoadSplitConfigDefaultsAgree(t *testing.T) {
	if got, want := loadSplitConfig(config.DefaultSplit()), raftstore.DefaultLoadSplitConfig(); got != want {
		t.Fatalf("[split] defaults disagree with raftstore:\n got %+v\nwant %+v", got, want)
	}
	off := config.DefaultSplit()
	off.QPSThreshold, off.ByteThreshold = 0, 0
	got := loadSplitConfig(off)
	if got.QPSThreshold != 0 || got.ByteThreshold != 0 || got.DetectTimes == 0 {
		t.Fatalf("off: %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("off: %v", err)
	}
}
