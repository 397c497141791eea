package chaos

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// rawBytes is a gRPC codec that sends the bytes it is given, so a test can
// put malformed protobuf on the wire.
type rawBytes struct{}

func (rawBytes) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawBytes) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawBytes) Name() string { return "proto" }

// dial connects to addr with sec's certificate (plaintext for nil).
func dial(t *testing.T, addr string, sec *security.TLS) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, sec.DialOption(), codec.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(128<<20), grpc.MaxCallRecvMsgSize(128<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestBadInput sends a barrage of bad requests to a running cluster of a
// one-member scheduler and four stores (a region has three replicas, so one store
// holds none), checks each gets a clear error, and then that the cluster
// still serves every key written before.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := startCluster(t, 4, 1, false)
	c.waitReplicated(2, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := client.NewRawClient(ctx, c.schedAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	known := map[string]string{}
	for i := 0; i < 50; i++ {
		k, v := fmt.Sprintf("known-%03d", i), fmt.Sprintf("v%d", i)
		if err := cli.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		known[k] = v
	}

	// The scheduler: a wrong cluster ID is refused in the header.
	pd := c.scheds[0].pd
	members, err := pd.GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	clusterID := members.GetHeader().GetClusterId()
	bad, err := pd.GetRegion(ctx, &pdpb.GetRegionRequest{Header: &pdpb.RequestHeader{ClusterId: clusterID + 1}, RegionKey: []byte("known")})
	if err != nil || bad.GetHeader().GetError() == nil || bad.GetRegion() != nil {
		t.Errorf("wrong cluster ID: want an error header and no region, got %v %v", bad, err)
	} else {
		t.Logf("wrong cluster ID -> %v", bad.GetHeader().GetError())
	}

	// Find the region of the known keys, its leader's store and a store
	// that holds no peer of it.
	var region *metapb.Region
	var leader *metapb.Peer
	for deadline := time.Now().Add(30 * time.Second); ; {
		r, err := pd.GetRegion(ctx, &pdpb.GetRegionRequest{Header: &pdpb.RequestHeader{ClusterId: clusterID}, RegionKey: []byte("known")})
		if err == nil && r.GetHeader().GetError() == nil && r.GetLeader() != nil {
			region, leader = r.GetRegion(), r.GetLeader()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader of the region reported: %v %v", r, err)
		}
		time.Sleep(200 * time.Millisecond) // waiting for a region heartbeat
	}
	storeAddr := func(id uint64) string {
		s, err := pd.GetStore(ctx, &pdpb.GetStoreRequest{Header: &pdpb.RequestHeader{ClusterId: clusterID}, StoreId: id})
		if err != nil || s.GetStore() == nil {
			t.Fatalf("get store %d: %v %v", id, s, err)
		}
		return s.GetStore().GetAddress()
	}
	leaderConn := dial(t, storeAddr(leader.GetStoreId()), nil)
	kvc := tikvpb.NewTikvClient(leaderConn)
	holders := map[uint64]bool{}
	for _, p := range region.GetPeers() {
		holders[p.GetStoreId()] = true
	}
	var stranger string
	all, err := pd.GetAllStores(ctx, &pdpb.GetAllStoresRequest{Header: &pdpb.RequestHeader{ClusterId: clusterID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.GetStores() {
		if !holders[s.GetId()] {
			stranger = s.GetAddress()
		}
	}
	rctx := func() *kvrpcpb.Context {
		return &kvrpcpb.Context{RegionId: region.GetId(), RegionEpoch: region.GetRegionEpoch(), Peer: leader}
	}
	withEpoch := func(conf, ver uint64) *kvrpcpb.Context {
		c := rctx()
		c.RegionEpoch = &metapb.RegionEpoch{ConfVer: conf, Version: ver}
		return c
	}
	ep := region.GetRegionEpoch()
	big := bytes.Repeat([]byte("x"), 9<<20)

	// want checks that a response carries a clear error: a region error or
	// an error text, and no gRPC failure.
	want := func(name string, err error, regionErr *errorpb.Error, msg string) {
		t.Helper()
		switch {
		case err != nil:
			t.Errorf("%s: gRPC error instead of an answer: %v", name, err)
		case regionErr == nil && msg == "":
			t.Errorf("%s: accepted, want an error", name)
		default:
			t.Logf("%s -> region-error=%v error=%q", name, regionErr, msg)
		}
	}
	put := func(name string, c *kvrpcpb.Context, k, v []byte, cf string) {
		t.Helper()
		r, err := kvc.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: c, Key: k, Value: v, Cf: cf})
		want(name, err, r.GetRegionError(), r.GetError())
	}
	put("empty key", rctx(), nil, []byte("v"), "")
	put("empty value", rctx(), []byte("known-empty"), nil, "")
	put("oversized key", rctx(), bytes.Repeat([]byte("k"), 9<<10), []byte("v"), "")
	put("oversized value", rctx(), []byte("known-big"), big, "")
	put("unknown CF", rctx(), []byte("known-cf"), []byte("v"), "no-such-cf")
	put("stale epoch", withEpoch(0, 0), []byte("known-000"), []byte("stale"), "")
	put("future epoch", withEpoch(ep.GetConfVer()+100, ep.GetVersion()+100), []byte("known-000"), []byte("future"), "")
	unknown := rctx()
	unknown.RegionId = 1 << 40
	put("unknown region", unknown, []byte("known-000"), []byte("unknown"), "")
	g, err := kvc.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx(), Key: []byte("known-000"), Cf: "no-such-cf"})
	want("get of unknown CF", err, g.GetRegionError(), g.GetError())
	s, err := kvc.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: rctx(), StartKey: []byte("known"), Limit: 1 << 31})
	scanMsg := "" // a scan reports a refusal as one pair with an error
	if kvs := s.GetKvs(); len(kvs) == 1 && kvs[0].GetError() != nil {
		scanMsg = kvs[0].GetError().String()
	}
	want("huge scan limit", err, s.GetRegionError(), scanMsg)
	cas, err := kvc.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: rctx(), Key: nil, Value: []byte("v"), PreviousNotExist: true})
	want("CAS of empty key", err, cas.GetRegionError(), cas.GetError())
	if stranger != "" {
		sr, err := tikvpb.NewTikvClient(dial(t, stranger, nil)).RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx(), Key: []byte("known-000"), Value: []byte("stranger")})
		want("store without a peer of the region", err, sr.GetRegionError(), sr.GetError())
	} else {
		t.Error("every store holds a peer: cannot test a store without one")
	}

	// Malformed protobuf on the wire: a gRPC error, not a crash.
	for _, payload := range [][]byte{{0xff}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, {0x12, 0x05, 'a'}, bytes.Repeat([]byte{0x80}, 64)} {
		var out []byte
		in := payload
		err := leaderConn.Invoke(ctx, "/tikvpb.Tikv/RawPut", &in, &out, grpc.ForceCodecV2(rawBytes{}))
		if err == nil {
			t.Errorf("malformed RawPut %x: accepted", payload)
		} else if !strings.Contains(err.Error(), "code") && !strings.Contains(err.Error(), "desc") {
			t.Errorf("malformed RawPut %x: unclear error %v", payload, err)
		}
	}

	// The cluster stays up and correct: everything reads back, and new
	// writes work on every store.
	for k, v := range known {
		got, err := cli.Get(ctx, []byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("after the barrage: %s = %q, %v; want %q", k, got, err, v)
		}
	}
	for i := 0; i < 4; i++ {
		if c.store(i).Exited() {
			t.Fatalf("store %d exited during the barrage", i+1)
		}
	}
	if err := cli.Put(ctx, []byte("known-after"), []byte("ok")); err != nil {
		t.Fatalf("put after the barrage: %v", err)
	}
	for _, k := range []string{"known-empty", "known-big", "known-cf"} {
		if v, err := cli.Get(ctx, []byte(k)); err != nil || v != nil {
			t.Errorf("refused write of %s is visible: %q %v", k, v, err)
		}
	}
}
