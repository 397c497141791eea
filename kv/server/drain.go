package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// inflight counts the client requests (unary RPCs) being served, so that a
// stopping store can finish them without waiting for the raft streams of
// other stores, which never end by themselves.
type inflight struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     chan struct{} // closed once draining and n == 0
}

// unary is a gRPC interceptor: it refuses new requests once draining
// (Unavailable, which clients retry on another peer) and counts the rest.
func (f *inflight) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	f.mu.Lock()
	if f.draining {
		f.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "server: store is stopping")
	}
	f.n++
	f.mu.Unlock()
	defer f.done()
	return h(ctx, req)
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.draining && f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// drain stops admitting requests and waits up to d for those in flight;
// false if some were still running.
func (f *inflight) drain(d time.Duration) bool {
	f.mu.Lock()
	f.draining = true
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	idle := make(chan struct{})
	f.idle = idle
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// Drain is the Raft store's stop: it reports NOT_SERVING, refuses new
// client requests, waits up to d for those in flight (their proposals
// still commit, since raft keeps running), then closes every connection,
// raft streams included. It reports whether in-flight requests finished.
func (g *GRPC) Drain(d time.Duration) bool {
	g.health.Shutdown()
	ok := g.server.inflight.drain(d)
	g.srv.Stop()
	return ok
}

// closeUnserved releases a GRPC that never served (a failed start).
func (g *GRPC) closeUnserved() {
	g.srv.Stop()
	_ = g.lis.Close()
}
