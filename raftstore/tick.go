package raftstore

// onTick advances the peer's logical clock by one base tick: Raft's
// election and heartbeat timers, then the periodic duties (log GC check,
// region heartbeat, read timeouts).
func (p *peer) onTick() {
	p.rn.Tick()
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
	p.maybeCheckStale()
	if len(p.pendingReads) > 0 {
		p.expireReads()
	}
	p.maybeHibernate()
}
