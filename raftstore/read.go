package raftstore

import (
	"encoding/binary"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/raft"
)

// Reads never go through the log. A read is served at a read index: every
// write acknowledged before the read arrived is at or below it. The leader
// gets one either from its lease (its commit index, when no other leader
// can exist) or from a ReadIndex round (Raft thesis §6.4); then the read
// waits until this peer applied up to the index and runs on a kv snapshot.

// handleRead takes a read request from the mailbox.
func (p *peer) handleRead(r *readRequest) {
	if err := p.checkHeader(r.header, false); err != nil {
		r.cb(ReadResult{Err: err})
		return
	}
	if !p.isLeader() {
		r.cb(ReadResult{Err: errNotLeader(p.region.Id, p.leader())})
		return
	}
	if p.leaseValid() {
		r.index, r.term = p.commit, p.term
		p.waitApply(r)
		return
	}
	p.readBatch = append(p.readBatch, r)
}

// leaseValid checks the lease against the clock now, not at the start of
// the round: a round can take long.
func (p *peer) leaseValid() bool {
	return p.store.cfg.LeaseEnabled && p.leaseTerm == p.term && p.store.now().Before(p.leaseExpire)
}

// flushReadBatch issues one ReadIndex for the reads collected this round.
func (p *peer) flushReadBatch(now time.Time) {
	if len(p.readBatch) == 0 {
		return
	}
	p.readSeq++
	ctx := binary.BigEndian.AppendUint64(nil, p.readSeq)
	p.pendingReads[string(ctx)] = &readIndexBatch{reads: p.readBatch, issuedAt: now, term: p.term, tick: p.ticks}
	p.readBatch = nil
	p.rn.ReadIndex(ctx)
}

// onReadStates receives answered ReadIndex requests.
func (p *peer) onReadStates(rss []raft.ReadState) {
	for _, rs := range rss {
		b, ok := p.pendingReads[string(rs.RequestCtx)]
		if !ok {
			continue
		}
		delete(p.pendingReads, string(rs.RequestCtx))
		// A quorum acknowledged our heartbeat sent at issuedAt.
		if b.term == p.term {
			p.renewLease(b.issuedAt)
		}
		for _, r := range b.reads {
			r.index, r.term = rs.Index, b.term
			p.waitApply(r)
		}
	}
}

// waitApply queues a read until apply reaches its index (or serves it).
func (p *peer) waitApply(r *readRequest) {
	if r.index <= p.ps.applied {
		p.serveRead(r)
		return
	}
	// Keep waitingReads sorted; read indexes almost always arrive in order.
	i := len(p.waitingReads)
	for i > 0 && p.waitingReads[i-1].index > r.index {
		i--
	}
	p.waitingReads = append(p.waitingReads, nil)
	copy(p.waitingReads[i+1:], p.waitingReads[i:])
	p.waitingReads[i] = r
}

// serveApplied serves the reads whose index was applied.
func (p *peer) serveApplied() {
	n := 0
	for n < len(p.waitingReads) && p.waitingReads[n].index <= p.ps.applied {
		p.serveRead(p.waitingReads[n])
		n++
	}
	if n > 0 {
		p.waitingReads = append(p.waitingReads[:0], p.waitingReads[n:]...)
	}
}

func (p *peer) serveRead(r *readRequest) {
	// The region may have changed while the read waited.
	if err := p.checkHeader(r.header, false); err != nil {
		r.cb(ReadResult{Err: err})
		return
	}
	snap, ok, err := p.store.fence.snapshot(p.store.engines, p.region.Id)
	if err != nil {
		r.cb(ReadResult{Err: &errorpb.Error{Message: err.Error()}})
		return
	}
	if !ok {
		// The apply worker is inside an entry it writes in several
		// batches; its next report lifts the fence.
		p.fencedReads = append(p.fencedReads, r)
		return
	}
	r.cb(ReadResult{Snap: snap, Region: p.region, Term: r.term, Stats: &p.reads})
}

// retryFencedReads serves the reads that met the read fence (on an apply
// report: the fence is lifted before the report is sent).
func (p *peer) retryFencedReads() {
	reads := p.fencedReads
	p.fencedReads = nil
	for _, r := range reads {
		p.serveRead(r)
	}
}

// failReads answers the reads still waiting for a read index; reads that
// have one stay valid whatever happens to leadership.
func (p *peer) failReads(err *errorpb.Error) {
	for _, r := range p.readBatch {
		r.cb(ReadResult{Err: err})
	}
	p.readBatch = nil
	for ctx, b := range p.pendingReads {
		for _, r := range b.reads {
			r.cb(ReadResult{Err: err})
		}
		delete(p.pendingReads, ctx)
	}
}

// expireReads fails ReadIndex requests that went unanswered too long: the
// request or the heartbeat answers may have been lost.
func (p *peer) expireReads() {
	for ctx, b := range p.pendingReads {
		if p.ticks-b.tick >= p.store.cfg.ReadTimeoutTicks {
			for _, r := range b.reads {
				r.cb(ReadResult{Err: errStaleCommand()})
			}
			delete(p.pendingReads, ctx)
		}
	}
}

// failAllReads is for a peer that goes away.
func (p *peer) failAllReads(err *errorpb.Error) {
	p.failReads(err)
	for _, r := range p.waitingReads {
		r.cb(ReadResult{Err: err})
	}
	p.waitingReads = nil
	for _, r := range p.fencedReads {
		r.cb(ReadResult{Err: err})
	}
	p.fencedReads = nil
}
