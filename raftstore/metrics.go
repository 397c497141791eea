package raftstore

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// StoreMetrics are a store's Prometheus metrics. They live in the registry
// the caller passes to NewStoreMetrics (one per store, so several stores can
// share a process, as in the playground); nothing is registered globally.
// Built with a nil registry, they count into collectors nobody scrapes.
type StoreMetrics struct {
	RaftRounds     prometheus.Counter
	RaftDBWrites   prometheus.Counter
	RaftDBSyncs    prometheus.Counter
	Proposals      prometheus.Counter
	AppendDuration prometheus.Histogram
	CommitDuration prometheus.Histogram
	ApplyDuration  prometheus.Histogram
	// ProposeApplyDuration is a write's way through Raft on the leader:
	// proposed to applied to the kv DB, callback due.
	ProposeApplyDuration prometheus.Histogram
	// ApplyWait is how long committed entries wait in the apply queue.
	ApplyWait     prometheus.Histogram
	Regions       prometheus.Gauge
	Leaders       prometheus.Gauge
	SnapshotsSent *prometheus.CounterVec
	SnapshotsRecv *prometheus.CounterVec
	// Hibernating counts regions that stopped ticking.
	Hibernating prometheus.Gauge
	// RaftMessages counts raft messages sent to other stores, by type.
	RaftMessages *prometheus.CounterVec

	msgCounters [eraftpb.MessageType_MsgRequestPreVoteResponse + 1]prometheus.Counter

	mu      sync.Mutex
	leaders map[uint64]bool // region -> this store's peer leads it
}

// latencyBuckets span 0.1 ms to ~3 s: a synced write on the development
// machine takes about 0.25 ms, a stalled round seconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

// NewStoreMetrics creates the metrics and registers them with reg (nil:
// not registered anywhere).
func NewStoreMetrics(reg prometheus.Registerer) *StoreMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "regionkv", Subsystem: "raftstore", Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "regionkv", Subsystem: "raftstore", Name: name, Help: help})
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "regionkv", Subsystem: "raftstore",
			Name: name, Help: help, Buckets: latencyBuckets})
	}
	m := &StoreMetrics{
		RaftRounds:   counter("raft_rounds_total", "Rounds of the batch system that had work."),
		RaftDBWrites: counter("raft_db_writes_total", "Raft-DB write batches committed (one per round with Ready state)."),
		RaftDBSyncs:  counter("raft_db_syncs_total", "Raft-DB write batches committed with a sync (group commit)."),
		Proposals:    counter("proposals_total", "Commands proposed to Raft by leaders of this store."),
		AppendDuration: hist("append_duration_seconds",
			"Time to write (and sync) one round's raft-DB batch: log entries and hard states."),
		CommitDuration: hist("commit_duration_seconds",
			"Time from proposing a command to seeing it committed."),
		ApplyDuration: hist("apply_duration_seconds",
			"Time an apply worker takes to apply one batch of committed entries to the kv DB."),
		ProposeApplyDuration: hist("propose_apply_duration_seconds",
			"Time from proposing a command to having applied it (the leader's end-to-end write latency)."),
		ApplyWait: hist("apply_wait_duration_seconds",
			"Time committed entries wait in the apply queue before an apply worker takes them."),
		Regions: gauge("regions", "Regions with a peer on this store."),
		Leaders: gauge("leaders", "Regions whose peer on this store is the leader."),
		SnapshotsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "regionkv", Subsystem: "raftstore",
			Name: "snapshots_sent_total", Help: "Snapshots streamed to other stores, by result (ok, failed)."}, []string{"result"}),
		SnapshotsRecv: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "regionkv", Subsystem: "raftstore",
			Name: "snapshots_received_total", Help: "Snapshots received from other stores, by result (ok, failed)."}, []string{"result"}),
		Hibernating: gauge("hibernating_regions", "Regions that stopped ticking for lack of traffic."),
		RaftMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "regionkv", Subsystem: "raftstore",
			Name: "raft_messages_sent_total", Help: "Raft messages sent to other stores, by type."}, []string{"type"}),
		leaders: make(map[uint64]bool),
	}
	for t := range m.msgCounters {
		m.msgCounters[t] = m.RaftMessages.WithLabelValues(eraftpb.MessageType(t).String())
	}
	if reg != nil {
		reg.MustRegister(m.RaftRounds, m.RaftDBWrites, m.RaftDBSyncs, m.Proposals, m.AppendDuration,
			m.CommitDuration, m.ApplyDuration, m.ProposeApplyDuration, m.ApplyWait, m.Regions, m.Leaders, m.SnapshotsSent, m.SnapshotsRecv, m.Hibernating,
			m.RaftMessages)
	}
	return m
}

// observeRaftWrite records one round's raft-DB write.
func (m *StoreMetrics) observeRaftWrite(start time.Time, synced bool) {
	m.RaftDBWrites.Inc()
	if synced {
		m.RaftDBSyncs.Inc()
	}
	m.AppendDuration.Observe(time.Since(start).Seconds())
}

// observeCommitted records the commit latency of proposals seen committed.
func (m *StoreMetrics) observeCommitted(props []*proposal, now time.Time) {
	for _, pr := range props {
		m.CommitDuration.Observe(now.Sub(pr.proposedAt).Seconds())
	}
}

// observeApplied records the propose-to-apply latency of commands proposed
// at proposedAt and applied by now.
func (m *StoreMetrics) observeApplied(proposedAt []time.Time, now time.Time) {
	for _, t := range proposedAt {
		m.ProposeApplyDuration.Observe(now.Sub(t).Seconds())
	}
}

// observeSent counts a raft message sent.
func (m *StoreMetrics) observeSent(t eraftpb.MessageType) {
	if int(t) >= 0 && int(t) < len(m.msgCounters) {
		m.msgCounters[t].Inc()
	}
}

// observeSnapshot counts a snapshot sent or received.
func observeSnapshot(v *prometheus.CounterVec, err error) {
	if err != nil {
		v.WithLabelValues("failed").Inc()
		return
	}
	v.WithLabelValues("ok").Inc()
}

// setLeader samples whether this store's peer of region leads it; peers
// call it on every tick.
func (m *StoreMetrics) setLeader(region uint64, leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.leaders[region]
	if ok && prev == leader {
		return
	}
	m.leaders[region] = leader
	if leader {
		m.Leaders.Inc()
	} else if prev {
		m.Leaders.Dec()
	}
}

// setRegions records the regions this store holds, and forgets the
// leadership of regions it no longer holds.
func (m *StoreMetrics) setRegions(ids []uint64) {
	m.Regions.Set(float64(len(ids)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.leaders) <= len(ids) {
		return
	}
	held := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		held[id] = true
	}
	for id, leader := range m.leaders {
		if !held[id] {
			delete(m.leaders, id)
			if leader {
				m.Leaders.Dec()
			}
		}
	}
}
