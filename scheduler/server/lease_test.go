package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// leaseClock is a clock the test moves.
type leaseClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *leaseClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *leaseClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scriptedKA answers keepalives with ttl, taking delay of the test clock,
// or fails while cut.
type scriptedKA struct {
	inner keepAliver // nil: answer on its own
	clock *leaseClock
	ttl   int64
	delay time.Duration
	cut   atomic.Bool
	calls atomic.Int64
}

var errCut = errors.New("keepalive cut by the test")

func (k *scriptedKA) KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	k.calls.Add(1)
	if k.cut.Load() {
		return nil, errCut
	}
	if k.inner != nil {
		return k.inner.KeepAliveOnce(ctx, id)
	}
	k.clock.add(k.delay)
	return &clientv3.LeaseKeepAliveResponse{ID: id, TTL: k.ttl}, nil
}

// TestLeaderLeaseCountsFromTheKeepaliveSent: the lease is known alive for
// TTL after a keepalive was sent, not after its answer arrived, and a
// failed keepalive extends nothing.
func TestLeaderLeaseCountsFromTheKeepaliveSent(t *testing.T) {
	clk := &leaseClock{t: time.Unix(1000, 0)}
	ka := &scriptedKA{clock: clk, ttl: 3, delay: 800 * time.Millisecond}
	l := newLeaderLease(ka, 7, 3*time.Second, clk.now)
	if l.valid() {
		t.Fatal("valid before any keepalive")
	}
	if err := l.renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Sent at 1000 s, answered at 1000.8 s: alive until 1003 s, not 1003.8 s.
	clk.add(2199 * time.Millisecond)
	if !l.valid() {
		t.Fatal("invalid 2.999 s after the keepalive was sent")
	}
	clk.add(time.Millisecond)
	if l.valid() {
		t.Fatal("valid 3 s after the keepalive was sent (counted from its answer)")
	}
	ka.cut.Store(true)
	if err := l.renew(context.Background()); !errors.Is(err, errCut) || l.valid() {
		t.Fatalf("failed renewal: err %v, valid %t", err, l.valid())
	}
	ka.cut.Store(false)
	ka.ttl = 0
	if err := l.renew(context.Background()); !errors.Is(err, errLeaseGone) {
		t.Fatalf("keepalive answered with TTL 0: %v", err)
	}
}

// TestLeaderStopsServingWhenLeaseRunsOut: a leader whose keepalives stop
// getting through refuses timestamps and region heartbeats (so sends no
// operator steps) as soon as the lease may have expired in etcd, before its
// etcd client notices, and then ends its term.
func TestLeaderStopsServingWhenLeaseRunsOut(t *testing.T) {
	clk := &leaseClock{t: time.Now()}
	var ka *scriptedKA
	cfg := testConfig(t, "s1")
	s, err := Start(cfg, testLogger(t), WithSeed(1), withLeaseHooks(func(inner keepAliver) keepAliver {
		if ka == nil {
			ka = &scriptedKA{inner: inner, clock: clk}
		}
		return ka
	}, clk.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	waitLeader(t, s)
	ctx := ctxT(t)
	pd := rawPD(t, s.Addr())
	hdr := &pdpb.RequestHeader{ClusterId: s.ClusterID()}
	tso := func() error {
		st, err := pd.Tso(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = st.CloseSend() }()
		if err := st.Send(&pdpb.TsoRequest{Header: hdr, Count: 1}); err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	if err := tso(); err != nil {
		t.Fatalf("tso while the lease is renewed: %v", err)
	}
	bootstrapOne(t, newClient(t, s.Addr()))
	heartbeat := func() error {
		st, err := pd.RegionHeartbeat(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = st.CloseSend() }()
		req := &pdpb.RegionHeartbeatRequest{Header: hdr, Region: region(2, "", "", 1, 1, peer(3, 1)), Leader: peer(3, 1), Term: 1}
		if err := st.Send(req); err != nil {
			return err
		}
		// A heartbeat with nothing to do gets no answer; a refused one
		// ends the stream. Close our side and see how it ends.
		_ = st.CloseSend()
		_, err = st.Recv()
		return err
	}
	if err := heartbeat(); status.Code(err) == codes.Unavailable {
		t.Fatalf("heartbeat while the lease is renewed: %v", err)
	}

	// Keepalives stop getting through; the etcd client's own loop would
	// still call the session alive for a while.
	ka.cut.Store(true)
	clk.add(cfg.LeaderLease.Duration)
	if err := tso(); status.Code(err) != codes.Unavailable {
		t.Fatalf("tso after the lease may have run out: %v, want Unavailable", err)
	}
	if err := heartbeat(); status.Code(err) != codes.Unavailable {
		t.Fatalf("heartbeat after the lease may have run out: %v, want Unavailable", err)
	}
	waitFor(t, 10*time.Second, "the term to end", func() bool { return !s.IsLeader() })
}
