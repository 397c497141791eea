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
