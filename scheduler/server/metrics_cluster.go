package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// operatorFinished counts a finished operator by kind and final status,
// and observes how long it ran.
func (m *metrics) operatorFinished(v operator.View) {
	m.opsFinished.WithLabelValues(v.Kind, v.Status).Inc()
	if created, err := time.Parse(time.RFC3339Nano, v.Created); err == nil {
		m.opDuration.WithLabelValues(v.Kind, v.Status).Observe(time.Since(created).Seconds())
	}
}

// clusterCollector reports, at scrape time and only on the leader, the
// running operators by kind and status, the regions by health state and
// the stores by state.
type clusterCollector struct {
	s       *Server
	ops     *prometheus.Desc
	regions *prometheus.Desc
	stores  *prometheus.Desc
}

func newClusterCollector(s *Server) *clusterCollector {
	return &clusterCollector{
		s: s,
		ops: prometheus.NewDesc("regionkv_scheduler_operators",
			"Running operators, by kind and status.", []string{"kind", "status"}, nil),
		regions: prometheus.NewDesc("regionkv_scheduler_region_states",
			"Regions by state: ok, miss-peer (fewer replicas than max-replicas), extra-peer, down-peer, pending-peer, no-leader. A region may count in several.",
			[]string{"state"}, nil),
		stores: prometheus.NewDesc("regionkv_scheduler_store_states",
			"Stores by state: Up, Disconnected, Down, Offline, Tombstone.", []string{"state"}, nil),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ops
	ch <- c.regions
	ch <- c.stores
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ls := c.s.leader.Load()
	if ls == nil {
		return
	}
	type kindStatus struct{ kind, status string }
	ops := map[kindStatus]int{}
	// Every kind shows, at zero when idle, so that dashboards read 0
	// rather than "no data".
	for k := operator.KindLeader; k <= operator.KindAdmin; k <<= 1 {
		ops[kindStatus{k.String(), operator.Started.String()}] = 0
	}
	for _, v := range ls.ops.List() {
		ops[kindStatus{v.Kind, v.Status}]++
	}
	for k, n := range ops {
		ch <- prometheus.MustNewConstMetric(c.ops, prometheus.GaugeValue, float64(n), k.kind, k.status)
	}
	want := ls.schedule().MaxReplicas
	states := map[string]int{"ok": 0, "miss-peer": 0, "extra-peer": 0, "down-peer": 0, "pending-peer": 0, "no-leader": 0}
	for _, r := range ls.cluster.ScanRegions(nil, nil, 0) {
		ok := true
		mark := func(state string) { states[state]++; ok = false }
		if n := len(r.Peers()); n < want {
			mark("miss-peer")
		} else if n > want {
			mark("extra-peer")
		}
		if len(r.DownPeers()) > 0 {
			mark("down-peer")
		}
		if len(r.PendingPeers()) > 0 {
			mark("pending-peer")
		}
		if r.Leader() == nil {
			mark("no-leader")
		}
		if ok {
			states["ok"]++
		}
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(c.regions, prometheus.GaugeValue, float64(n), st)
	}
	stores := map[string]int{}
	for st := cluster.StateUp; st <= cluster.StateTombstone; st++ {
		stores[st.String()] = 0
	}
	o := ls.options()
	for _, s := range ls.cluster.GetStores() {
		stores[s.State(o.Now, o.Thresholds).String()]++
	}
	for st, n := range stores {
		ch <- prometheus.MustNewConstMetric(c.stores, prometheus.GaugeValue, float64(n), st)
	}
}
