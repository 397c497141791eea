package raftstore

// onTick advances the peer's logical clock by one base tick: Raft's
// election and heartbeat timers, then the periodic duties (log GC check,
// region heartbeat, read timeouts).
func (p *peer) onTick() {
	p.rn.Tick()
	p.ticks++
	cfg := &p.store.cfg
	if p.ticks%cfg.RaftLogGCTickInterval == 0 {
		p.maybeProposeCompactLog(false)
	}
	if p.isLeader() && p.ticks%cfg.RegionHeartbeatTicks == 0 {
		p.store.heartbeatRegion(p)
	}
	if len(p.pendingReads) > 0 {
		p.expireReads()
	}
}
