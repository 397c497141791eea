package client

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kvconfig "github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/kv/storage/standalone"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// The SDK's overhead per operation, against a bare gRPC call to the same
// standalone store. "routed" goes through the full region path (cache
// lookup, region context, retry loop) with a one-region scheduler; the
// standalone store ignores the context, so the store's work is the same.

func startBenchStore(b *testing.B) string {
	b.Helper()
	cfg := kvconfig.Default()
	cfg.Addr, cfg.DataDir, cfg.Standalone = "127.0.0.1:0", b.TempDir(), true
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		b.Fatal(err)
	}
	g, err := server.Listen(cfg, server.New(cfg, st, nil))
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	b.Cleanup(func() {
		g.Stop()
		<-served
		_ = st.Close()
	})
	return g.Addr()
}

// oneRegionScheduler places the whole key space in region 1 on store 1.
type oneRegionScheduler struct{ addr string }

func (s oneRegionScheduler) region() *schedclient.Region {
	p := &metapb.Peer{Id: 11, StoreId: 1}
	return &schedclient.Region{Meta: &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{p}}, Leader: p}
}
func (s oneRegionScheduler) GetRegion(context.Context, []byte) (*schedclient.Region, error) {
	return s.region(), nil
}
func (s oneRegionScheduler) GetPrevRegion(context.Context, []byte) (*schedclient.Region, error) {
	return s.region(), nil
}
func (s oneRegionScheduler) ScanRegions(context.Context, []byte, []byte, int) ([]*schedclient.Region, error) {
	return []*schedclient.Region{s.region()}, nil
}
func (s oneRegionScheduler) GetStore(context.Context, uint64) (*metapb.Store, error) {
	return &metapb.Store{Id: 1, Address: s.addr}, nil
}
func (oneRegionScheduler) Close() {}

type benchKV interface {
	get(ctx context.Context, key []byte) error
	put(ctx context.Context, key, value []byte) error
}

type bareKV struct{ c tikvpb.TikvClient }

func (b bareKV) get(ctx context.Context, key []byte) error {
	_, err := b.c.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: key})
	return err
}

func (b bareKV) put(ctx context.Context, key, value []byte) error {
	_, err := b.c.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: key, Value: value})
	return err
}

type sdkKV struct{ c *RawClient }

func (s sdkKV) get(ctx context.Context, key []byte) error { _, err := s.c.Get(ctx, key); return err }
func (s sdkKV) put(ctx context.Context, key, value []byte) error {
	return s.c.Put(ctx, key, value)
}

func benchClients(b *testing.B) map[string]benchKV {
	addr := startBenchStore(b)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	forStore, err := NewRawClientForStore(context.Background(), addr, WithConnsPerStore(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = forStore.Close() })
	cfg := defaultConfig()
	cfg.connsPerStore = 1
	routed := newRawClient(oneRegionScheduler{addr: addr}, cfg)
	b.Cleanup(func() { _ = routed.Close() })
	return map[string]benchKV{"bare": bareKV{tikvpb.NewTikvClient(cc)}, "sdk-store": sdkKV{forStore}, "sdk-routed": sdkKV{routed}}
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"bare", "sdk-store", "sdk-routed"} {
		b.Run(name, func(b *testing.B) {
			kv := benchClients(b)[name]
			key := []byte("bench-key")
			if err := kv.put(ctx, key, []byte("value")); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := kv.get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"bare", "sdk-store", "sdk-routed"} {
		b.Run(name, func(b *testing.B) {
			kv := benchClients(b)[name]
			value := []byte("value")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if err := kv.put(ctx, fmt.Appendf(nil, "k%08d", i), value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
