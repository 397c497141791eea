package security

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// benchModes are the two sides of every comparison.
var benchModes = []struct {
	name string
	tls  bool
}{{"plaintext", false}, {"tls", true}}

// benchServer is a health service on loopback, in plaintext or with mutual
// TLS, and the client side's TLS (nil for plaintext).
func benchServer(b *testing.B, tls bool) (addr string, client *TLS) {
	b.Helper()
	if !tls {
		return startServer(b, Config{}).grpcAddr, nil
	}
	p := newPKI(b, "bench-ca")
	node := p.issue("node", time.Now().Add(time.Hour))
	return startServer(b, node).grpcAddr, mustLoad(b, p.issue("tool", time.Now().Add(time.Hour)))
}

// BenchmarkGRPCCall is one unary call on an open connection: what TLS
// adds to each request once the connection is up (record encryption; the
// handshake and its file stats are behind it).
func BenchmarkGRPCCall(b *testing.B) {
	for _, tc := range benchModes {
		b.Run(tc.name, func(b *testing.B) {
			addr, c := benchServer(b, tc.tls)
			cc, err := grpc.NewClient(addr, c.DialOption())
			if err != nil {
				b.Fatal(err)
			}
			defer cc.Close()
			hc := healthpb.NewHealthClient(cc)
			ctx := context.Background()
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnect is a new connection and its first call: what TLS adds
// when a client (re)connects, handshake and certificate checks included.
func BenchmarkConnect(b *testing.B) {
	for _, tc := range benchModes {
		b.Run(tc.name, func(b *testing.B) {
			addr, c := benchServer(b, tc.tls)
			ctx := context.Background()
			for b.Loop() {
				cc, err := grpc.NewClient(addr, c.DialOption())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
				cc.Close()
			}
		})
	}
}
