package raftstore

import (
	"bytes"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	"github.com/regionkv/regionkv/raft"
)

// checkHeader validates a request's routing against this peer: the store,
// the region epoch and (for a pinned term) the leader term.
func (p *peer) checkHeader(h *raft_cmdpb.RaftRequestHeader, admin bool) *errorpb.Error {
	if h == nil {
		return nil
	}
	if sp := h.Peer; sp != nil && sp.StoreId != 0 && sp.StoreId != p.meta.StoreId {
		return errStoreNotMatch(sp.StoreId, p.meta.StoreId)
	}
	if ep := h.RegionEpoch; ep != nil {
		cur := p.region.RegionEpoch
		// Data commands only care about the key range (version); admin
		// commands about membership too (TiKV's rule).
		if ep.Version != cur.GetVersion() || (admin && ep.ConfVer != cur.GetConfVer()) {
			return p.epochNotMatch()
		}
	}
	return nil
}

// checkKeys reports the first key of reqs outside the region.
func checkKeys(region *metapb.Region, reqs []*raft_cmdpb.Request) *errorpb.Error {
	for _, r := range reqs {
		switch r.CmdType {
		case raft_cmdpb.CmdType_Put:
			if !keyInRegion(r.Put.GetKey(), region) {
				return errKeyNotInRegion(r.Put.GetKey(), region)
			}
		case raft_cmdpb.CmdType_Delete:
			if !keyInRegion(r.Delete.GetKey(), region) {
				return errKeyNotInRegion(r.Delete.GetKey(), region)
			}
		case raft_cmdpb.CmdType_Get:
			if !keyInRegion(r.Get.GetKey(), region) {
				return errKeyNotInRegion(r.Get.GetKey(), region)
			}
		}
	}
	return nil
}

func keyInRegion(key []byte, r *metapb.Region) bool {
	return bytes.Compare(key, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(key, r.EndKey) < 0)
}

// proposeCommands proposes this round's commands. On a leader with
// DisableProposalForwarding every accepted proposal appends exactly one
// entry, at the index after the leader's last: so one BasicStatus call
// numbers the whole batch.
func (p *peer) proposeCommands(cmds []*command, now time.Time) {
	if len(cmds) == 0 {
		return
	}
	p.observeRole()
	st := p.rn.BasicStatus()
	term := st.HardState.Term
	var last uint64
	if p.isLeader() {
		last = st.LastIndex
	}
	for _, c := range cmds {
		req := c.req
		if err := p.checkHeader(req.Header, req.AdminRequest != nil); err != nil {
			respondErr(c.cb, err, term)
			continue
		}
		if !p.isLeader() {
			respondErr(c.cb, errNotLeader(p.region.Id, p.leader()), term)
			continue
		}
		if t := req.Header.GetTerm(); t != 0 && t != term {
			// Pinned to the term of an earlier read (compare-and-swap):
			// another leader may have written since.
			respondErr(c.cb, errStaleCommand(), term)
			continue
		}
		var admin adminCmd
		if req.AdminRequest != nil {
			var ok bool
			if admin, ok = adminCmds[req.AdminRequest.CmdType]; !ok {
				respondErr(c.cb, errAdminUnsupported(req.AdminRequest.CmdType), term)
				continue
			}
			if admin.onLeader != nil && admin.onLeader(p, req.AdminRequest, c.cb, term) {
				continue
			}
			if admin.confChange {
				if err := p.proposeConfChange(req); err != nil {
					respondErr(c.cb, err, term)
					continue
				}
				last++
				p.confChangeBarrier = last
				p.proposals = append(p.proposals, &proposal{index: last, term: term, proposedAt: now, cb: c.cb})
				continue
			}
		} else if err := checkKeys(p.region, req.Requests); err != nil {
			respondErr(c.cb, err, term)
			continue
		} else if writesData(req.Requests) {
			if err := p.diskFullError(); err != nil {
				respondErr(c.cb, err, term)
				continue
			}
		}
		data, err := req.Marshal()
		if err != nil {
			respondErr(c.cb, &errorpb.Error{Message: err.Error()}, term)
			continue
		}
		if err := p.rn.Propose(data); err != nil {
			// Dropped: a leadership transfer is in progress, or we just
			// stepped down.
			respondErr(c.cb, errNotLeader(p.region.Id, p.leader()), term)
			continue
		}
		last++
		p.proposals = append(p.proposals, &proposal{index: last, term: term, proposedAt: now, cb: c.cb})
		p.store.cfg.Metrics.Proposals.Inc()
		if req.AdminRequest == nil {
			p.countProposed(req.Requests)
		}
		if admin.announce {
			p.rn.AnnounceCommit(last)
		}
	}
}

// takeProposals removes and returns the proposals up to index hi, for the
// apply task of committed entries ending at hi.
func (p *peer) takeProposals(hi uint64) []*proposal {
	n := 0
	for n < len(p.proposals) && p.proposals[n].index <= hi {
		n++
	}
	if n == 0 {
		return nil
	}
	out := append([]*proposal(nil), p.proposals[:n]...)
	p.proposals = append(p.proposals[:0], p.proposals[n:]...)
	return out
}

// maybeRenewLeaseByCommit extends the lease by committed proposals of the
// current term: a quorum appended each after it was proposed.
func (p *peer) maybeRenewLeaseByCommit(props []*proposal, commitTerm uint64) {
	if !p.isLeader() || !p.store.cfg.LeaseEnabled {
		return
	}
	var latest time.Time
	for _, pr := range props {
		if pr.term == p.term && pr.term == commitTerm && pr.proposedAt.After(latest) {
			latest = pr.proposedAt
		}
	}
	if !latest.IsZero() {
		p.renewLease(latest)
	}
}

func (p *peer) renewLease(sentAt time.Time) {
	if !p.isLeader() || !p.store.cfg.LeaseEnabled || p.noLeaseTerm == p.term || p.rn.BasicStatus().LeadTransferee != raft.None {
		return
	}
	exp := sentAt.Add(p.store.cfg.leaseDuration())
	if p.leaseTerm != p.term || exp.After(p.leaseExpire) {
		p.leaseExpire, p.leaseTerm = exp, p.term
	}
}

// failProposals answers every waiting proposal, for a peer being replaced
// or stopped: the entries may still apply, so the outcome is undetermined.
func (p *peer) failProposals(reason string) {
	for _, pr := range p.proposals {
		respondErr(pr.cb, errUndetermined(reason), p.term)
	}
	if len(p.proposals) > 0 {
		p.logger.Debug("proposals failed", zap.String("reason", reason), zap.Int("proposals", len(p.proposals)))
	}
	p.proposals = nil
}
