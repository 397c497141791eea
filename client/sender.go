package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// rpcFunc makes one attempt: it builds the request with rctx (nil for a
// standalone store), calls the store, keeps the result only when the
// response has no region error, and returns the region error, or a
// *ServerError when the store refused the request, or the transport error. A response with a region error comes from a peer whose
// view is stale or which cannot serve: nothing in it may be used.
type rpcFunc func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error)

// errRegionChanged tells the caller that the region a request was routed to
// has changed (split, moved, unknown to the store): re-locate the keys and
// send again. It never leaves the package.
var errRegionChanged = errors.New("client: region changed")

// idempotent says whether a request may be sent again after an attempt whose
// outcome is unknown. Only reads may: a write re-sent after it was applied
// can apply again after another client's write of the key, and the value
// reverts (a non-linearizable history), so every write is retryUnsafe. A
// write is re-sent only after a definite rejection: a region error the
// store answers before proposing (NotLeader, EpochNotMatch, RegionNotFound,
// KeyNotInRegion, ServerIsBusy, StoreNotMatch, StaleCommand).
type idempotent bool

const (
	retrySafe   idempotent = true
	retryUnsafe idempotent = false
)

// sendToRegion sends fn to r's leader, following NotLeader hints and trying
// other peers on busy or unreachable stores, until the request succeeds, the
// region turns out to have changed (errRegionChanged) or the retries end.
func (c *RawClient) sendToRegion(ctx context.Context, bo *backoffer, r *region, safe idempotent, fn rpcFunc) error {
	peer := r.leaderPeer()
	// tryNextPeer moves to another peer of r after err and backs off; a
	// non-nil result ends the request.
	tryNextPeer := func(err error) error {
		if next := c.cache.switchPeer(r, peer); next != nil {
			peer = next
		}
		return bo.retry(ctx, err, true, 0)
	}
	for {
		st, err := c.stores.get(ctx, peer.GetStoreId())
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			if err := tryNextPeer(err); err != nil {
				return err
			}
			continue
		}
		var rctx *kvrpcpb.Context
		if r.id() != 0 {
			rctx = &kvrpcpb.Context{RegionId: r.id(), RegionEpoch: r.epoch(), Peer: peer}
		}
		cli, cc := st.pick()
		if safe == retryUnsafe {
			// Learn whether the store is reachable before sending, so that
			// a failure after this point can be told apart: the request may
			// have been applied.
			if err := waitReady(ctx, cc); err != nil {
				if ctx.Err() != nil {
					return deadlineErr(ctx, err)
				}
				c.stores.invalidate(st.id)
				if err := tryNextPeer(fmt.Errorf("client: %s: %w", st, err)); err != nil {
					return err
				}
				continue
			}
		}
		regionErr, err := c.attempt(ctx, cli, rctx, fn)
		var refused *ServerError
		if errors.As(err, &refused) {
			return err
		}
		if err != nil {
			err = fmt.Errorf("client: %s: %w", st, err)
			ended := callerCtxEnded(ctx, err)
			if safe == retryUnsafe {
				// The request may have reached the store and been
				// applied: never send it again.
				if ended {
					return fmt.Errorf("%w: %w", ErrUndetermined, deadlineErr(ctx, err))
				}
				// Let the next request find a live peer.
				c.stores.invalidate(st.id)
				c.cache.switchPeer(r, peer)
				return fmt.Errorf("%w: %w", ErrUndetermined, err)
			}
			if ended {
				return deadlineErr(ctx, err)
			}
			c.logger.Debug("store unreachable; trying another peer", zap.Uint64("region-id", r.id()),
				zap.Uint64("store-id", st.id), zap.Error(err))
			c.stores.invalidate(st.id)
			if err := tryNextPeer(err); err != nil {
				return err
			}
			continue
		}
		if regionErr == nil {
			return nil
		}
		next, err := c.onRegionError(ctx, bo, r, peer, safe, &RegionError{RegionID: r.id(), StoreID: st.id, Err: regionErr})
		if err != nil {
			return err
		}
		peer = next
	}
}

// callerCtxEnded reports whether the caller's ctx ended during an attempt
// that failed with err. An attempt under the caller's own deadline is timed
// twice, by gRPC here and by the store from the same deadline, and the
// store's timer may fire first: its DeadlineExceeded then arrives a moment
// before ctx is done, and is waited out so that the caller sees its
// deadline (errors.Is(err, context.DeadlineExceeded)).
func callerCtxEnded(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	if !ok || status.Code(err) != codes.DeadlineExceeded {
		return false
	}
	left := time.Until(dl)
	if left > deadlineSkew {
		return false // the attempt's own timeout, not the caller's deadline
	}
	t := time.NewTimer(left + deadlineSkew)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		return ctxErr(ctx) != nil
	}
}

// deadlineSkew bounds how far apart two timers set from one deadline fire.
const deadlineSkew = 50 * time.Millisecond

// attempt runs fn under the per-attempt timeout (when it ends before the
// caller's deadline).
func (c *RawClient) attempt(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, fn rpcFunc) (*errorpb.Error, error) {
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.cfg.requestTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.requestTimeout)
		defer cancel()
	}
	return fn(ctx, cli, rctx)
}

// onRegionError decides what to do after a region error: it returns the
// peer to try next, or an error (errRegionChanged to re-route, or the end of
// the request).
func (c *RawClient) onRegionError(ctx context.Context, bo *backoffer, r *region, peer *metapb.Peer, safe idempotent, re *RegionError) (*metapb.Peer, error) {
	e := re.Err
	c.logger.Debug("region error", zap.Uint64("region-id", r.id()), zap.Uint64("store-id", re.StoreID),
		zap.String("error", describeRegionError(e)))
	switch {
	case e.NotLeader != nil:
		hint := e.NotLeader.GetLeader()
		if hint.GetId() == 0 {
			// No leader known (an election is running): wait, then ask
			// another peer.
			next := c.cache.switchPeer(r, peer)
			if next == nil {
				next = peer
			}
			return next, bo.retry(ctx, re, true, 0)
		}
		if !c.cache.updateLeader(r, hint) {
			// The hinted leader is not a member we know: membership changed.
			if err := bo.retry(ctx, re, true, 0); err != nil {
				return nil, err
			}
			return nil, errRegionChanged
		}
		// Follow a new hint at once; a hint naming the peer just asked means
		// it is about to lead, or lost its lease: give it time.
		next := peerByID(r.meta, hint.GetId())
		return next, bo.retry(ctx, re, next.GetId() == peer.GetId(), 0)
	case e.EpochNotMatch != nil:
		current := e.EpochNotMatch.GetCurrentRegions()
		if len(current) > 0 && !anyNewer(current, r.meta) {
			// The store is behind us (a peer that has not applied a split
			// or membership change we learned of elsewhere, such as a new
			// leader still catching up). Its view would only send us back
			// to the same answer: keep ours and give it time, as client-go
			// does, instead of retrying at once and spending the whole
			// retry budget in milliseconds.
			if err := bo.retry(ctx, re, true, 0); err != nil {
				return nil, err
			}
			return nil, errRegionChanged
		}
		if len(current) > 0 {
			c.cache.onEpochNotMatch(r, re.StoreID, current)
		} else {
			c.cache.invalidate(r)
		}
		if err := bo.retry(ctx, re, len(current) == 0, 0); err != nil {
			return nil, err
		}
		return nil, errRegionChanged
	case e.RegionNotFound != nil, e.KeyNotInRegion != nil, e.StoreNotMatch != nil,
		e.MismatchPeerId != nil, e.RegionNotInitialized != nil:
		c.cache.invalidate(r)
		if e.StoreNotMatch != nil {
			c.stores.invalidate(re.StoreID)
		}
		if err := bo.retry(ctx, re, true, 0); err != nil {
			return nil, err
		}
		return nil, errRegionChanged
	case e.ServerIsBusy != nil:
		hint := time.Duration(e.ServerIsBusy.GetBackoffMs()) * time.Millisecond
		next := c.cache.switchPeer(r, peer)
		if next == nil {
			next = peer
		}
		return next, bo.retry(ctx, re, true, hint)
	case e.UndeterminedResult != nil:
		if safe == retryUnsafe {
			return nil, fmt.Errorf("%w: %w", ErrUndetermined, re)
		}
		return peer, bo.retry(ctx, re, true, 0)
	case e.StaleCommand != nil, e.ReadIndexNotReady != nil, e.ProposalInMergingMode != nil,
		e.MaxTimestampNotSynced != nil, e.DataIsNotReady != nil:
		return peer, bo.retry(ctx, re, true, 0)
	default:
		// RaftEntryTooLarge, DiskFull, flashback, recovery, or a kind this
		// client does not know: retrying the same request will not help.
		return nil, re
	}
}

// anyNewer reports whether some region of current is newer than ours, not
// outdated by it nor the same epoch of the same region.
func anyNewer(current []*metapb.Region, ours *metapb.Region) bool {
	for _, m := range current {
		if !isStale(m, ours) && !sameEpoch(m, ours) {
			return true
		}
	}
	return false
}

func peerByID(r *metapb.Region, id uint64) *metapb.Peer {
	for _, p := range r.GetPeers() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

// errNotConnected: the connection to a store is not up.
var errNotConnected = errors.New("client: store connection is not ready")

// waitReady waits until cc is connected; it fails at once if connecting
// failed.
func waitReady(ctx context.Context, cc *grpc.ClientConn) error {
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			cc.Connect()
		case connectivity.TransientFailure, connectivity.Shutdown:
			return fmt.Errorf("%w (%s)", errNotConnected, s)
		}
		if !cc.WaitForStateChange(ctx, s) {
			return ctx.Err()
		}
	}
}

// locateErr decides whether a failure to locate a region may be retried:
// only when the scheduler knows no region for the key yet.
func (c *RawClient) locateErr(ctx context.Context, bo *backoffer, err error) error {
	if errors.Is(err, ErrRegionUnavailable) || errors.Is(err, ErrNoPeer) {
		return bo.retry(ctx, err, true, 0)
	}
	if ctx.Err() != nil {
		return deadlineErr(ctx, err)
	}
	return err
}

// sendToKey sends fn to the region holding key, re-routing as regions
// change.
func (c *RawClient) sendToKey(ctx context.Context, key []byte, safe idempotent, fn rpcFunc) error {
	bo := newBackoffer(&c.cfg)
	for {
		r, err := c.cache.locate(ctx, key)
		if err != nil {
			if err := c.locateErr(ctx, bo, err); err != nil {
				return err
			}
			continue
		}
		err = c.sendToRegion(ctx, bo, r, safe, fn)
		if !errors.Is(err, errRegionChanged) {
			return err
		}
	}
}
