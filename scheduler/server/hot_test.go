package server

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/api"
)

// TestHotspotFromHeartbeats: region heartbeats with traffic over an
// interval feed the load statistics; /api/v1/hotspot lists the hot regions
// by the rate asked for and sums the loads per store.
func TestHotspotFromHeartbeats(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	cfg.Schedule.HotRegionCacheHitsThreshold = 1
	s, pd, hdr, st := heartbeatServer(t, cfg)
	ctx := ctxT(t)
	for _, id := range []uint64{2, 3} {
		if resp, err := pd.PutStore(ctx, &pdpb.PutStoreRequest{Header: hdr, Store: &metapb.Store{Id: id, Address: "127.0.0.1:3000" + string(rune('0'+id))}}); err != nil || resp.Header.Error != nil {
			t.Fatalf("put store %d: %v %v", id, resp, err)
		}
	}
	minute := &pdpb.TimeInterval{StartTimestamp: 1000, EndTimestamp: 1060}
	// Per second over the minute: region 200 takes 100 writes of 1 KiB,
	// region 300 200 gets of 100 bytes, region 100 almost nothing.
	for _, hb := range []*pdpb.RegionHeartbeatRequest{
		{Region: region(100, "", "g", 1, 3, peer(101, 1), peer(102, 2), peer(103, 3)), BytesWritten: 60, KeysWritten: 6,
			QueryStats: &pdpb.QueryStats{Put: 6}},
		{Region: region(200, "g", "p", 1, 3, peer(201, 1), peer(202, 2), peer(203, 3)), BytesWritten: 100 * 1024 * 60,
			KeysWritten: 6000, QueryStats: &pdpb.QueryStats{Put: 6000}},
		{Region: region(300, "p", "", 1, 3, peer(302, 2), peer(301, 1), peer(303, 3)), BytesRead: 200 * 100 * 60,
			KeysRead: 12000, QueryStats: &pdpb.QueryStats{Get: 12000}},
	} {
		hb.Header, hb.Leader, hb.Term, hb.Interval = hdr, hb.Region.Peers[0], 1, minute
		if err := st.Send(hb); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := pd.StoreHeartbeat(ctx, &pdpb.StoreHeartbeatRequest{Header: hdr, Stats: &pdpb.StoreStats{StoreId: 2,
		KeysRead: 600, QueryStats: &pdpb.QueryStats{Get: 600}, Interval: minute}}); err != nil || resp.Header.Error != nil {
		t.Fatalf("store heartbeat: %v %v", resp, err)
	}
	h := newHTTP(t, s)
	var write api.HotRegionsView
	waitFor(t, 10*time.Second, "the hot write region", func() bool {
		if code := h.do("GET", "/hotspot/regions/write", nil, &write); code != 200 {
			t.Fatalf("hotspot: %d", code)
		}
		return len(write.Regions) > 0
	})
	w := write.Regions
	if len(w) != 1 || w[0].RegionID != 200 || w[0].Bytes != 100*1024 || w[0].Queries != 100 || w[0].LeaderStore != 1 ||
		!w[0].Hot || w[0].StartKey != hex.EncodeToString([]byte("g")) || write.Kind != "write" || write.By != "bytes" {
		t.Fatalf("hot write regions: %+v", write)
	}
	var read api.HotRegionsView
	waitFor(t, 10*time.Second, "the hot read region", func() bool {
		h.do("GET", "/hotspot/regions/read?by=queries", nil, &read)
		return len(read.Regions) > 0
	})
	if r := read.Regions; len(r) != 1 || r[0].RegionID != 300 || r[0].Queries != 200 || r[0].Keys != 200 ||
		r[0].LeaderStore != 2 || read.By != "queries" {
		t.Fatalf("hot read regions: %+v", read)
	}
	// all=true lists the cold region too, the write-hot one first.
	if code := h.do("GET", "/hotspot/regions/write?all=true&by=keys&limit=2", nil, &write); code != 200 ||
		write.Total != 3 || len(write.Regions) != 2 || write.Regions[0].RegionID != 200 || write.Regions[1].RegionID != 100 {
		t.Fatalf("all write regions: %d %+v", code, write)
	}
	var stores struct{ Stores []api.StoreLoadView }
	if code := h.do("GET", "/hotspot/stores", nil, &stores); code != 200 || len(stores.Stores) != 3 {
		t.Fatalf("stores: %d %+v", code, stores)
	}
	for _, sv := range stores.Stores {
		// Every store holds a replica of both written regions; store 1
		// leads them, store 2 leads the read one.
		if math.Abs(sv.WritePeer.Keys-100.1) > 1e-9 {
			t.Errorf("store %d write peer keys %v, want 100.1", sv.StoreID, sv.WritePeer.Keys)
		}
		switch sv.StoreID {
		case 1:
			if math.Abs(sv.WriteLeader.Queries-100.1) > 1e-9 || sv.HotWriteLeaders != 1 || sv.ReadLeader.Queries != 0 {
				t.Errorf("store 1: %+v", sv)
			}
		case 2:
			if sv.ReadLeader.Queries != 200 || sv.HotReadLeaders != 1 || sv.ReportedRead.Queries != 10 || sv.HotWritePeers != 1 {
				t.Errorf("store 2: %+v", sv)
			}
		}
	}
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/hotspot/regions/cpu", 404, "read or write"},
		{"/hotspot/regions/read?by=cpu", 400, "bytes, keys or queries"},
		{"/hotspot/regions/read?limit=0", 400, "limit"},
		{"/hotspot/regions/write?all=maybe", 400, "true or false"},
	} {
		var body struct{ Error string }
		if code := h.do("GET", c.path, nil, &body); code != c.code || !strings.Contains(body.Error, c.says) {
			t.Errorf("GET %s: %d %q, want %d saying %q", c.path, code, body.Error, c.code, c.says)
		}
	}
}
