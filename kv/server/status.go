package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Status is a store's HTTP status server: Prometheus /metrics from the
// store's own registry, /health, Go's profiles under /debug/pprof/ (CPU,
// heap, goroutines, mutex, execution trace) for performance work, and, on a
// Raft store, /regions (regions.go).
type Status struct {
	srv  *http.Server
	mux  *http.ServeMux
	lis  net.Listener
	done chan struct{}
}

// NewMetricsRegistry returns a registry with the Go runtime and process
// collectors, for one store's metrics (no process-global registry).
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// StartStatus serves /metrics, /health and /debug/pprof/ on addr. health returns the
// fields of the /health answer; the store is healthy while it serves.
func StartStatus(addr string, reg *prometheus.Registry, health func() map[string]any, logger *zap.Logger) (*Status, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: status listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(health())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &Status{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, mux: mux, lis: lis, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("status server", zap.Error(err))
		}
	}()
	return s, nil
}

// Handle adds an endpoint (a net/http ServeMux pattern, e.g. "GET /regions"),
// for what only some stores serve.
func (s *Status) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the address actually bound.
func (s *Status) Addr() string { return s.lis.Addr().String() }

// Close stops the status server and waits for it.
func (s *Status) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
