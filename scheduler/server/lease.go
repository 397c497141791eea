package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// errLeaseGone: etcd answered a keepalive with no TTL, the lease is gone.
var errLeaseGone = errors.New("server: leader lease expired in etcd")

// keepAliver renews an etcd lease once (clientv3.Lease does).
type keepAliver interface {
	KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error)
}

// leaderLease is what this member knows for sure about its election lease.
// etcd expires the lease TTL after it last received a keepalive; a
// keepalive sent at t and answered therefore proves the lease alive until
// t + TTL, whatever the delays. The etcd client's own keepalive loop
// instead counts from when the answer arrives and checks its deadline every
// half second, so a deposed member could go on serving timestamps after
// another member was elected, handing out smaller ones. The TSO and
// operator dispatch are served only while valid reports true.
type leaderLease struct {
	ka  keepAliver
	id  clientv3.LeaseID
	ttl time.Duration
	now func() time.Time

	until atomic.Int64 // unix nanoseconds; the lease is valid before
}

func newLeaderLease(ka keepAliver, id clientv3.LeaseID, ttl time.Duration, now func() time.Time) *leaderLease {
	if now == nil {
		now = time.Now
	}
	return &leaderLease{ka: ka, id: id, ttl: ttl, now: now}
}

// valid reports whether the lease is known to be alive now.
func (l *leaderLease) valid() bool { return l.now().UnixNano() < l.until.Load() }

// renew sends one keepalive and, once answered, extends what is known.
func (l *leaderLease) renew(ctx context.Context) error {
	sent := l.now()
	ctx, cancel := context.WithTimeout(ctx, max(l.ttl/2, 100*time.Millisecond))
	defer cancel()
	resp, err := l.ka.KeepAliveOnce(ctx, l.id)
	if err != nil {
		return err
	}
	if resp.TTL <= 0 {
		return errLeaseGone
	}
	until := sent.Add(time.Duration(resp.TTL) * time.Second).UnixNano()
	for {
		cur := l.until.Load()
		if until <= cur || l.until.CompareAndSwap(cur, until) {
			return nil
		}
	}
}

// keep renews the lease every third of its TTL until ctx ends, and
// returns once the lease has run out without a renewal (or etcd says it is
// gone): the term must end.
func (l *leaderLease) keep(ctx context.Context) error {
	t := time.NewTicker(max(l.ttl/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := l.renew(ctx); errors.Is(err, errLeaseGone) {
			return err
		}
		if !l.valid() {
			return errLeaseGone
		}
	}
}
