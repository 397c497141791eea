package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/regionkv/regionkv/proto/common/version"
)

// metrics are this member's Prometheus metrics, in a registry of its own
// (no process-global registration), served at /metrics on the status address.
type metrics struct {
	reg          *prometheus.Registry
	heartbeats   *prometheus.CounterVec
	tsoRequests  prometheus.Counter
	storeBeats   prometheus.Counter
	leaderTerms  prometheus.Counter
	operatorsOut prometheus.Counter
	opsFinished  *prometheus.CounterVec
	opDuration   *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: "region_heartbeats_total",
			Help: "Region heartbeats received, by result (ok, stale, invalid).",
		}, []string{"result"}),
		tsoRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: "tso_requests_total",
			Help: "TSO requests served (each may ask for many timestamps).",
		}),
		storeBeats: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: "store_heartbeats_total",
			Help: "Store heartbeats received.",
		}),
		leaderTerms: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: "leader_terms_total",
			Help: "Times this member became leader.",
		}),
		operatorsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: "operator_steps_sent_total",
			Help: "Operator steps sent to region leaders in heartbeat responses.",
		}),
	}
	gauge := func(name, help string, f func(*leaderState) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "regionkv", Subsystem: "scheduler", Name: name, Help: help,
		}, func() float64 {
			if ls := s.leader.Load(); ls != nil {
				return f(ls)
			}
			return 0
		})
	}
	m.opsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "regionkv", Subsystem: "scheduler", Name: "operators_finished_total",
		Help: "Operators finished, by kind and final status (success, canceled, replaced, timeout, ...).",
	}, []string{"kind", "status"})
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "regionkv", Subsystem: "scheduler", Name: "operator_duration_seconds",
		Help:    "Time from creating an operator to its end, by kind and final status.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10 ms to ~5.5 min
	}, []string{"kind", "status"})
	m.reg.MustRegister(m.opsFinished, m.opDuration, newClusterCollector(s), version.NewBuildInfoCollector(version.Get()), m.heartbeats, m.tsoRequests, m.storeBeats, m.leaderTerms, m.operatorsOut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("is_leader", "1 while this member leads.", func(*leaderState) float64 { return 1 }),
		gauge("regions", "Regions in the cluster model.", func(ls *leaderState) float64 { return float64(ls.cluster.RegionCount()) }),
		gauge("stores", "Stores in the cluster model.", func(ls *leaderState) float64 { return float64(len(ls.cluster.GetStores())) }),
		gauge("operators_running", "Running operators.", func(ls *leaderState) float64 { return float64(len(ls.ops.List())) }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
