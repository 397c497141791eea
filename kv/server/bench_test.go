package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// The raw API's round trip over gRPC on loopback, against a standalone store:
// what one client pays per request before any replication. RawPut includes
// the synced engine write; RawGet reads a key that exists.

func BenchmarkRawPutGRPC(b *testing.B) {
	s := startServer(b, nil)
	ctx := context.Background()
	value := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte(fmt.Sprintf("key-%08d", i)), Value: value})
		if err != nil || resp.Error != "" {
			b.Fatalf("put: %v %q", err, resp.GetError())
		}
	}
}

func BenchmarkRawGetGRPC(b *testing.B) {
	s := startServer(b, nil)
	ctx := context.Background()
	const keys = 1000
	for i := 0; i < keys; i++ {
		resp, err := s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte(fmt.Sprintf("key-%08d", i)), Value: make([]byte, 128)})
		if err != nil || resp.Error != "" {
			b.Fatalf("put: %v %q", err, resp.GetError())
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte(fmt.Sprintf("key-%08d", i%keys))})
		if err != nil || resp.Error != "" || resp.NotFound {
			b.Fatalf("get: %v %q not_found=%v", err, resp.GetError(), resp.GetNotFound())
		}
	}
}

// BenchmarkLatchesParallel: acquiring and releasing the latch of one key,
// from parallel goroutines over 100k keys, with the occasional range (one in
// 1,000) in a region's worth of keys. What every write pays.
func BenchmarkLatchesParallel(b *testing.B) {
	l := newLatches()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			var sp span
			if i%1000 == 0 {
				sp = rangeSpan([]byte(fmt.Sprintf("k%05d", i%100000)), []byte(fmt.Sprintf("k%05d~", i%100000)))
			} else {
				sp = pointSpan([]byte(fmt.Sprintf("k%05d", (i*7919)%100000)))
			}
			release, err := l.acquire(ctx, sp)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
}
