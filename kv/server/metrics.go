package server

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// requestMetrics time every client request by command, outcome and path
// (unary call or BatchCommands sub-request). The histogram's _count is the
// request count, so one family serves rates, error ratios and latency
// quantiles.
type requestMetrics struct {
	duration *prometheus.HistogramVec
}

// requestBuckets span 0.1 ms to ~3 s, like raftstore's latency histograms.
var requestBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "regionkv", Subsystem: "store", Name: "request_duration_seconds",
		Help: "Client requests served, by command (RawGet, RawPut, ...), outcome (ok, not_leader, epoch_not_match, " +
			"server_is_busy, ..., error, canceled, unavailable) and path (unary, batch), with their latency.",
		Buckets: requestBuckets,
	}, []string{"command", "outcome", "path"})}
	if reg != nil {
		reg.MustRegister(m.duration)
	}
	return m
}

func (m *requestMetrics) observe(command, path string, resp any, err error, start time.Time) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(command, outcome(resp, err), path).Observe(time.Since(start).Seconds())
}

// unary is a gRPC interceptor observing the Tikv service's unary calls
// (not the health service's).
func (m *requestMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	command, ok := strings.CutPrefix(info.FullMethod, "/tikvpb.Tikv/")
	if !ok || m == nil {
		return h(ctx, req)
	}
	start := time.Now()
	resp, err := h(ctx, req)
	m.observe(command, "unary", resp, err, start)
	return resp, err
}

// outcome classifies an answer: a gRPC error by its code, a region error by
// its kind, an error field or key error as "error", else "ok".
func outcome(resp any, err error) string {
	if err != nil {
		return snake(status.Code(err).String())
	}
	if r, ok := resp.(interface{ GetRegionError() *errorpb.Error }); ok {
		if re := r.GetRegionError(); re != nil {
			return regionErrorKind(re)
		}
	}
	if r, ok := resp.(interface{ GetError() string }); ok && r.GetError() != "" {
		return "error"
	}
	if r, ok := resp.(interface{ GetPairs() []*kvrpcpb.KvPair }); ok {
		for _, p := range r.GetPairs() {
			if p.GetError() != nil {
				return "error"
			}
		}
	}
	return "ok"
}

func regionErrorKind(e *errorpb.Error) string {
	switch {
	case e.NotLeader != nil:
		return "not_leader"
	case e.EpochNotMatch != nil:
		return "epoch_not_match"
	case e.RegionNotFound != nil:
		return "region_not_found"
	case e.KeyNotInRegion != nil:
		return "key_not_in_region"
	case e.ServerIsBusy != nil:
		return "server_is_busy"
	case e.StaleCommand != nil:
		return "stale_command"
	case e.StoreNotMatch != nil:
		return "store_not_match"
	}
	return "region_error"
}

// snake turns a gRPC code name (DeadlineExceeded) into a label value
// (deadline_exceeded).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// engineCollector reports the engines' sizes on disk at scrape time.
type engineCollector struct {
	eng  *engine.Engines
	size *prometheus.Desc
}

// NewEngineCollector returns the regionkv_engine_size_bytes gauges of eng,
// by database (raft, kv) and kind of file (lsm, vlog, other).
func NewEngineCollector(eng *engine.Engines) prometheus.Collector {
	return &engineCollector{eng: eng, size: prometheus.NewDesc("regionkv_engine_size_bytes",
		"Space the store's databases take on disk, by database (raft, kv) and kind of file (lsm tables, vlog, other).",
		[]string{"db", "kind"}, nil)}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size }

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	sizes, err := c.eng.Sizes()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.size, err)
		return
	}
	for _, s := range sizes {
		for kind, n := range map[string]int64{"lsm": s.LSM, "vlog": s.VLog, "other": s.Others} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), s.DB, kind)
		}
	}
}
