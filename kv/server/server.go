// Package server is one store's gRPC front end: the tikvpb.Tikv service over a
// storage.Storage, plus the standard gRPC health service.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// defaultMaxRequestWait bounds how long a request may wait on the store
// (for latches, a read index, a proposal to commit) when neither its
// deadline nor its max_execution_duration_ms bounds it sooner. Without it
// a write to a region that lost its quorum, sent without a deadline (a
// BatchCommands sub-request, a client that set none), would wait for ever,
// holding its goroutine and the latches of its keys.
const defaultMaxRequestWait = time.Minute

// Server implements tikvpb.TikvServer. The methods it does not serve answer
// with the gRPC Unimplemented status.
type Server struct {
	tikvpb.UnimplementedTikvServer

	cfg     config.Config
	storage storage.Storage
	latches *latches
	// maxWait is defaultMaxRequestWait (tests shorten it).
	maxWait time.Duration
	logger  *zap.Logger
	raft    RaftHandler

	inflight inflight        // client requests being served (drain.go)
	metrics  *requestMetrics // nil until RegisterMetrics
}

// New returns a server for st. cfg must be valid.
func New(cfg config.Config, st storage.Storage, logger *zap.Logger) *Server {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Server{cfg: cfg, storage: st, latches: newLatches(), maxWait: defaultMaxRequestWait, logger: logger}
}

// RegisterMetrics registers the request metrics with reg and starts
// recording them. Call before Serve.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) { s.metrics = newRequestMetrics(reg) }

// SetStorage sets the storage, for a server that had to listen before its
// storage existed (a Raft store registers its bound address). Call before
// Serve.
func (s *Server) SetStorage(st storage.Storage) { s.storage = st }

// GRPC wraps a Server in a listening gRPC server.
type GRPC struct {
	srv    *grpc.Server
	health *health.Server
	lis    net.Listener
	server *Server
}

// ListenOption adjusts Listen.
type ListenOption func(*listenOptions)

type listenOptions struct{ tls *security.TLS }

// WithTLS serves mutual TLS (security.TLS.Listen) instead of plaintext.
func WithTLS(t *security.TLS) ListenOption { return func(o *listenOptions) { o.tls = t } }

// Listen binds cfg.Addr and registers the Tikv and health services on it;
// Serve starts answering.
func Listen(cfg config.Config, s *Server, opts ...ListenOption) (*GRPC, error) {
	var o listenOptions
	for _, opt := range opts {
		opt(&o)
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	// The TLS listener hands gRPC connections whose handshake is done;
	// gRPC itself then speaks over them as over any connection.
	lis = o.tls.Listen(lis, s.logger, "h2")
	g := &GRPC{
		srv: grpc.NewServer(
			codec.ServerOption(),
			grpc.MaxRecvMsgSize(cfg.MaxGRPCMsgLen),
			grpc.MaxSendMsgSize(cfg.MaxGRPCMsgLen),
			// Metrics first, so that requests refused while draining count.
			grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				return s.metrics.unary(ctx, req, info, h)
			}, s.inflight.unary),
			// TiKV clients ping every 10 s; accept that and anything slower.
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
				MinTime:             5 * time.Second,
				PermitWithoutStream: true,
			}),
		),
		health: health.NewServer(),
		lis:    lis,
		server: s,
	}
	tikvpb.RegisterTikvServer(g.srv, s)
	healthpb.RegisterHealthServer(g.srv, g.health)
	return g, nil
}

// Addr is the address actually bound (useful with port 0).
func (g *GRPC) Addr() string { return g.lis.Addr().String() }

// Serve answers requests until Stop; it returns nil after a Stop.
func (g *GRPC) Serve() error {
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.health.SetServingStatus("tikvpb.Tikv", healthpb.HealthCheckResponse_SERVING)
	if err := g.srv.Serve(g.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("server: serve: %w", err)
	}
	return nil
}

// StopWithin stops gracefully but gives up waiting after d: a Raft store's
// peers keep their BatchRaft streams open, so a graceful stop alone could
// wait for ever.
func (g *GRPC) StopWithin(d time.Duration) {
	g.health.Shutdown()
	t := time.AfterFunc(d, g.srv.Stop)
	defer t.Stop()
	g.srv.GracefulStop()
}

// Stop reports NOT_SERVING, stops accepting work and waits for in-flight
// requests to finish.
func (g *GRPC) Stop() {
	g.health.Shutdown()
	g.srv.GracefulStop()
}
