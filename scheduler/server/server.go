// Package server is the scheduler (placement driver) server: the pdpb.PD
// gRPC service, the HTTP API, metadata in etcd (embedded or external),
// leader election among scheduler members, and, on the leader, the cluster
// model, operators, checkers and schedulers.
package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/common/datadir"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/common/version"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/id"
	"github.com/regionkv/regionkv/scheduler/keyviz"
	"github.com/regionkv/regionkv/scheduler/schedulers"
	"github.com/regionkv/regionkv/scheduler/storage"
	"github.com/regionkv/regionkv/scheduler/tso"
)

// maxMsgSize bounds gRPC messages (ScanRegions answers can be large).
const maxMsgSize = 64 << 20

// Option adjusts a Server before it starts.
type Option func(*Server)

// WithSeed seeds the schedulers' randomness (default: from the clock).
func WithSeed(seed uint64) Option { return func(s *Server) { s.seed = seed } }

// withLeaseHooks makes the leader lease renew through wrap(etcd's lessor)
// and read time from now: tests cut renewals and move time.
func withLeaseHooks(wrap func(keepAliver) keepAliver, now func() time.Time) Option {
	return func(s *Server) { s.leaseWrap, s.leaseNow = wrap, now }
}

// Server is one scheduler member.
type Server struct {
	pdpbgrpc.UnimplementedPDServer

	cfg    config.Config
	logger *zap.Logger
	seed   uint64
	// leaseWrap and leaseNow are test hooks of the leader lease.
	leaseWrap func(keepAliver) keepAliver
	leaseNow  func() time.Time

	etcd      *etcdBackend
	clusterID uint64
	storage   *storage.Storage
	ids       *id.Allocator
	tso       *tso.Oracle
	self      *pdpb.Member

	dirLock *datadir.Lock // held from before etcd starts until after it stops
	tls     *security.TLS // nil: plaintext

	grpcSrv *grpc.Server
	health  *health.Server
	lis     net.Listener // gRPC and HTTP (listener.go)
	httpSrv *http.Server
	// legacyLis and legacySrv serve the HTTP API on the deprecated
	// status-addr as well, when it is set.
	legacyLis net.Listener
	legacySrv *http.Server

	leader  atomic.Pointer[leaderState]
	streams *hbStreams
	// keyviz is the key visualizer's history, fed by the region heartbeats
	// this member receives as leader; kept across its terms, not persisted.
	keyviz *keyviz.History
	// bootstrapMu serializes Bootstrap, so that a store losing the race
	// finds the cluster bootstrapped (IsBootstrapped, PutStore) as soon as
	// it is refused.
	bootstrapMu sync.Mutex
	metrics     *metrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// Start validates cfg, starts etcd (or connects to it), the gRPC service,
// the HTTP API and the election loop. Close stops it all.
func Start(cfg config.Config, logger *zap.Logger, opts ...Option) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Schedule.CheckSchedulers(schedulers.NewRegistry(schedulers.Builtin(), 0).Available()); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	s = &Server{cfg: cfg, logger: logger, seed: uint64(time.Now().UnixNano()), streams: newHBStreams()}
	for _, o := range opts {
		o(s)
	}
	if s.keyviz, err = keyviz.New(keyviz.DefaultConfig(), nil); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	if s.tls, err = security.Load(cfg.Security, logger); err != nil {
		return nil, err
	}
	// The data dir first: a second member on it must fail at once, not
	// hang in etcd's database open behind the first one's lock.
	if cfg.DataDir != "" {
		if s.dirLock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = s.dirLock.Release()
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	s.lis = s.tls.Listen(lis, logger, "h2", "http/1.1")
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.etcd, err = startEtcd(&s.cfg, s.tls, logger); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if s.clusterID, err = storage.InitClusterID(ctx, s.etcd.cli); err != nil {
		return nil, err
	}
	s.storage = storage.New(s.etcd.cli, s.clusterID)
	s.ids = id.New(s.storage.IDWindow(), id.DefaultStep)
	s.tso = tso.New(s.storage.TSOWindow(), cfg.TSOSaveInterval.Duration, nil)
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = s.lis.Addr().String()
	}
	s.self = &pdpb.Member{Name: cfg.Name, MemberId: s.etcd.memberID, ClientUrls: []string{s.tls.Scheme() + "://" + advertise}}
	if s.etcd.peerURL != "" {
		s.self.PeerUrls = []string{s.etcd.peerURL}
	}
	if err = s.serve(); err != nil {
		return nil, err
	}
	exposed := []string{s.lis.Addr().String()}
	if s.legacyLis != nil {
		exposed = append(exposed, s.legacyLis.Addr().String())
	}
	security.WarnIfExposed(logger, cfg.Security, "scheduler", append(exposed, s.etcd.listening...)...)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.campaignLoop(ctx)
	}()
	fields := []zap.Field{zap.String("name", cfg.Name), zap.String("addr", s.lis.Addr().String()),
		zap.Uint64("cluster-id", s.clusterID), zap.Uint64("member-id", s.self.MemberId)}
	if s.legacyLis != nil {
		fields = append(fields, zap.String("status-addr", s.legacyLis.Addr().String()))
	}
	logger.Info("scheduler started", append(fields, zap.String("version", version.Get().Version))...)
	return s, nil
}

func (s *Server) newGRPC() *grpc.Server {
	g := grpc.NewServer(
		codec.ServerOption(),
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
	)
	s.health = health.NewServer()
	pdpbgrpc.RegisterPDServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus("pdpb.PD", healthpb.HealthCheckResponse_SERVING)
	return g
}

// serve starts answering gRPC and HTTP on the listener, and HTTP on the
// deprecated status address too when it is set.
func (s *Server) serve() error {
	s.grpcSrv = s.newGRPC()
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.handler())
	mux.Handle("/", api.NewHandler(s.apiBackend(), s.logger))
	s.httpSrv = newHTTPServer(routeByProtocol(s.grpcSrv, mux))
	if s.cfg.StatusAddr != "" {
		lis, err := net.Listen("tcp", s.cfg.StatusAddr)
		if err != nil {
			return fmt.Errorf("server: listen on %s: %w", s.cfg.StatusAddr, err)
		}
		s.legacyLis, s.legacySrv = s.tls.Listen(lis, s.logger, "h2", "http/1.1"), newHTTPServer(mux)
		s.serveHTTP(s.legacySrv, lis)
	}
	s.serveHTTP(s.httpSrv, s.lis)
	return nil
}

// DataDirFormat is the format of the scheduler's data dir (its embedded
// etcd's data) this build writes and the newest it reads; a dir without a
// format-version file is format 1.
const DataDirFormat = 1

// lockDataDir locks dir and checks its format. Its errors match
// datadir.ErrLocked (another process holds the dir; the message names its
// PID) or datadir.ErrNewerFormat.
func lockDataDir(dir string) (*datadir.Lock, error) {
	l, err := datadir.Acquire(dir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if _, err := datadir.CheckFormat(dir, DataDirFormat); err != nil {
		_ = l.Release()
		return nil, fmt.Errorf("server: %w", err)
	}
	return l, nil
}

// Addr is the address actually bound: gRPC and the HTTP API.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// ClusterID is the cluster's ID.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Name is the member's name.
func (s *Server) Name() string { return s.cfg.Name }

// IsLeader reports whether this member currently leads.
func (s *Server) IsLeader() bool { return s.leader.Load() != nil }

// Close resigns leadership, stops serving and stops etcd. It is idempotent.
func (s *Server) Close() {
	s.closed.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.health != nil {
			s.health.Shutdown()
		}
		// Heartbeat and TSO streams never end by themselves: no graceful
		// stop. Stopping the gRPC server ends its streams, which lets the
		// HTTP server's connections close.
		if s.grpcSrv != nil {
			s.grpcSrv.Stop()
		}
		for _, srv := range []*http.Server{s.httpSrv, s.legacySrv} {
			if srv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = srv.Shutdown(ctx)
				cancel()
				_ = srv.Close()
			}
		}
		if s.lis != nil {
			_ = s.lis.Close() // when Start failed before serving it
		}
		s.wg.Wait()
		if s.etcd != nil {
			s.etcd.close()
		}
		_ = s.dirLock.Release()
		s.logger.Info("scheduler stopped", zap.String("name", s.cfg.Name))
	})
}
