package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/common/units"
	"github.com/regionkv/regionkv/proto/common/version"
)

// Status is a store's HTTP status server: Prometheus /metrics from the
// store's own registry, /health, /status (build, start time, uptime),
// /config (the running configuration), Go's profiles under /debug/pprof/
// (CPU, heap, goroutines, mutex, execution trace), and, on a Raft store,
// /regions (regions.go).
type Status struct {
	srv  *http.Server
	mux  *http.ServeMux
	lis  net.Listener
	done chan struct{}
	// store is the store's identity once it is known (a Raft store learns
	// its ID after the status server listens, so that it can register the
	// bound status address).
	store atomic.Pointer[map[string]any]
}

// NewMetricsRegistry returns a registry with the Go runtime and process
// collectors and regionkv_build_info, for one store's metrics (no
// process-global registry).
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		version.NewBuildInfoCollector(version.Get()))
	return reg
}

// StatusConfig is what a status server shows.
type StatusConfig struct {
	Addr     string
	Registry *prometheus.Registry
	// Health returns the fields of the /health answer; the store is
	// healthy when "healthy" is true.
	Health func() map[string]any
	// Config is the running configuration /config shows.
	Config config.Config
	// Started is when the process started serving.
	Started time.Time
	// TLS, when not nil, serves HTTPS with client certificates only: the
	// status server shows region boundaries, keys in profiles and the
	// configuration.
	TLS *security.TLS
}

// StartStatus serves the status endpoints on sc.Addr.
func StartStatus(sc StatusConfig, logger *zap.Logger) (*Status, error) {
	lis, err := net.Listen("tcp", sc.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: status listen on %s: %w", sc.Addr, err)
	}
	lis = sc.TLS.Listen(lis, logger, "h2", "http/1.1")
	s := &Status{lis: lis, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(sc.Registry, promhttp.HandlerOpts{Registry: sc.Registry}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		h := sc.Health()
		code := http.StatusOK
		if ok, _ := h["healthy"].(bool); !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.status(sc.Started))
	})
	cfgJSON, err := configJSON(sc.Config)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(cfgJSON)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.mux = mux
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("status server", zap.Error(err))
		}
	}()
	return s, nil
}

// SetStore adds the store's identity (store ID, addresses) to /status.
func (s *Status) SetStore(fields map[string]any) { s.store.Store(&fields) }

// status is the /status answer.
func (s *Status) status(started time.Time) map[string]any {
	v := version.Get()
	out := map[string]any{
		"version": v.Version, "revision": v.Revision, "go-version": v.GoVersion,
		"start-time": started.UTC().Format(time.RFC3339), "uptime": units.FormatDuration(time.Since(started).Truncate(time.Second)),
		"status-addr": s.Addr(),
	}
	if st := s.store.Load(); st != nil {
		for k, f := range *st {
			out[k] = f
		}
	}
	return out
}

// configJSON renders cfg with its config file's keys.
func configJSON(cfg config.Config) ([]byte, error) {
	var m map[string]any
	b, err := cfg.TOML()
	if err == nil {
		err = toml.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("server: render config: %w", err)
	}
	return json.MarshalIndent(m, "", "  ")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
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
