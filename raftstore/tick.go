package raftstore

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// maybeTick steps one tick, unless the previous one was stepped less than
// half a tick interval ago. Ticks reach a peer late and bunched: a tick due
// before the peer heard from its leader can wait in the region's coalesced
// tick flag, another in flight in the ticker goroutine, another in the
// timer's one-slot channel, and all be stepped right after the leader's
// message. Dropping ticks that come too close bounds how fast a follower's
// election timer can run, which the leader lease counts on
// (Config.leaseDuration). A dropped tick only slows the peer's clock.
func (p *peer) maybeTick() {
	now := p.store.now()
	if !p.lastTickAt.IsZero() && now.Sub(p.lastTickAt) < p.store.cfg.RaftBaseTickInterval/2 {
		return
	}
	p.lastTickAt = now
	p.onTick()
}

// onTick advances the peer's logical clock by one base tick: Raft's
// election and heartbeat timers, then the periodic duties (log GC check,
// region heartbeat, read timeouts).
func (p *peer) onTick() {
	p.rn.Tick()
	p.observeRole()
	p.ticks++
	p.store.cfg.Metrics.setLeader(p.region.Id, p.isLeader())
	cfg := &p.store.cfg
	if p.ticks%cfg.RaftLogGCTickInterval == 0 {
		p.maybeProposeCompactLog(false)
	}
	if p.isLeader() && p.ticks%cfg.RegionHeartbeatTicks == 0 {
		p.store.heartbeatRegion(p)
	} else if p.ticks%cfg.HeartbeatTicks == 0 {
		p.maybeHeartbeatOnCatchUp()
	}
	if p.ticks%cfg.SplitCheckTicks == 0 {
		p.maybeScheduleSplitCheck()
	}
	p.maybeLoadSplit(p.store.now())
	p.maybeCheckStale()
	if len(p.pendingReads) > 0 {
		p.expireReads()
	}
	p.maybeWarnSlowProposal()
	p.maybeHibernate()
}

// slowProposal is how long a proposal may wait for its entry to apply
// before the peer logs it: far beyond a healthy write's milliseconds, well
// within a client's usual deadline.
const slowProposal = 5 * time.Second

// maybeWarnSlowProposal logs, once per proposal, the oldest proposal that
// has waited past slowProposal, with what the peer knows of its progress.
func (p *peer) maybeWarnSlowProposal() {
	if len(p.proposals) == 0 {
		return
	}
	pr := p.proposals[0]
	if pr.index <= p.warnedProposal || time.Since(pr.proposedAt) < slowProposal {
		return
	}
	p.warnedProposal = pr.index
	st := p.rn.Status()
	fields := []zap.Field{zap.Uint64("index", pr.index),
		zap.Uint64("proposal-term", pr.term), zap.Duration("waited", time.Since(pr.proposedAt)),
		zap.Int("pending-proposals", len(p.proposals)), zap.Uint64("term", st.HardState.Term),
		zap.String("role", st.SoftState.RaftState.String()), zap.Uint64("leader", st.SoftState.Lead),
		zap.Uint64("commit", st.HardState.Commit), zap.Uint64("applied", p.ps.applied),
		zap.Uint64("last-index", st.LastIndex)}
	for id, pr := range st.Progress {
		fields = append(fields, zap.String(fmt.Sprintf("progress-%d", id), pr.String()))
	}
	p.logger.Warn("proposal waiting long for apply", fields...)
}
