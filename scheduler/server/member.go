package server

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// Keys under the cluster's prefix.
const (
	leaderPath  = "leader"
	membersPath = "members/"
)

// retryDelay spaces out election attempts after an etcd error.
const retryDelay = 200 * time.Millisecond

// campaignLoop registers this member and campaigns for leadership until ctx
// ends; while leader it serves as leader, and on losing the session it steps
// down and campaigns again.
func (s *Server) campaignLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.campaignOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("campaign failed; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(retryDelay):
			}
		}
	}
}

func (s *Server) campaignOnce(ctx context.Context) error {
	ttl := int(s.cfg.LeaderLease.Seconds())
	sess, err := concurrency.NewSession(s.etcd.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	val, _ := s.self.Marshal()
	if _, err := s.etcd.cli.Put(ctx, s.storage.Path(membersPath+s.cfg.Name), string(val),
		clientv3.WithLease(sess.Lease())); err != nil {
		return err
	}
	el := concurrency.NewElection(sess, s.storage.Path(leaderPath))
	if err := el.Campaign(ctx, string(val)); err != nil {
		return err
	}
	s.logger.Info("became scheduler leader", zap.String("name", s.cfg.Name))
	guard := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())
	// What the lease is known to cover starts with a keepalive of our own
	// (leaderLease); until then nothing is served.
	var ka keepAliver = s.etcd.cli
	if s.leaseWrap != nil {
		ka = s.leaseWrap(ka)
	}
	lease := newLeaderLease(ka, sess.Lease(), time.Duration(ttl)*time.Second, s.leaseNow)
	if err := lease.renew(ctx); err != nil {
		s.resign(el)
		return err
	}
	keepCtx, stopKeep := context.WithCancel(ctx)
	defer stopKeep()
	leaseOut := make(chan error, 1)
	go func() { leaseOut <- lease.keep(keepCtx) }()
	ls, err := s.becomeLeader(ctx, &guard, lease)
	if err != nil {
		s.resign(el)
		return err
	}
	select {
	case <-ctx.Done():
	case <-sess.Done():
		s.logger.Warn("leader session expired", zap.String("name", s.cfg.Name))
	case err := <-leaseOut:
		s.logger.Warn("leader lease not renewed in time", zap.String("name", s.cfg.Name), zap.Error(err))
	case <-ls.lost:
		s.logger.Warn("leadership lost", zap.String("name", s.cfg.Name))
	}
	s.stepDown(ls)
	s.resign(el)
	return nil
}

func (s *Server) resign(el *concurrency.Election) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := el.Resign(ctx); err != nil {
		s.logger.Warn("resign leadership", zap.Error(err))
	}
}

// currentLeader reads the elected leader from etcd; nil when none.
func (s *Server) currentLeader(ctx context.Context) *pdpb.Member {
	if s.leader.Load() != nil {
		return s.self
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := s.etcd.cli.Get(ctx, s.storage.Path(leaderPath)+"/", append(clientv3.WithFirstCreate(), clientv3.WithPrefix())...)
	if err != nil || len(resp.Kvs) == 0 {
		return nil
	}
	m := &pdpb.Member{}
	if m.Unmarshal(resp.Kvs[0].Value) != nil {
		return nil
	}
	return m
}

// members lists the registered (live) scheduler members.
func (s *Server) members(ctx context.Context) ([]*pdpb.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := s.etcd.cli.Get(ctx, s.storage.Path(membersPath), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*pdpb.Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m := &pdpb.Member{}
		if err := m.Unmarshal(kv.Value); err != nil {
			return nil, errors.Join(errors.New("server: bad member record"), err)
		}
		out = append(out, m)
	}
	return out, nil
}
