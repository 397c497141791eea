package raftstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/disk_usage"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// diskCheckInterval bounds how stale the store's view of its free space
// may be.
const diskCheckInterval = time.Second

// diskGuard keeps the store off a full disk. The engine writes its
// memtables through memory-mapped files, and a page it cannot back (the
// file system is full) kills the process: so the store refuses client
// writes while its file system has less than Config.ReserveSpace free, and
// leaders refuse them while too few of a region's voters have room (stores
// tell their peers in every raft message). Raft's own writes (log appends,
// conf changes, log compaction, snapshots) go on, within the reserve.
type diskGuard struct {
	usage     atomic.Int32 // a disk_usage.DiskUsage
	checkedAt atomic.Int64 // unix nanoseconds of the store's clock
	mu        sync.Mutex   // held by the one refreshing it
}

// diskUsage is the store's disk state, checked at most once a
// diskCheckInterval (every raft message carries it, so the common path is
// two atomic loads). Without a reserve the store never refuses writes.
func (s *Store) diskUsage() disk_usage.DiskUsage {
	if s.cfg.ReserveSpace == 0 {
		return disk_usage.DiskUsage_Normal
	}
	g := &s.disk
	cur := disk_usage.DiskUsage(g.usage.Load())
	now := s.now()
	if at := g.checkedAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < diskCheckInterval {
		return cur
	}
	if !g.mu.TryLock() {
		return cur // another worker is refreshing it
	}
	defer g.mu.Unlock()
	g.checkedAt.Store(now.UnixNano())
	avail, err := s.diskAvailable()
	if err != nil {
		// Leave the state as it was: a failed statfs says nothing of the
		// disk, and the engine reports real write errors itself.
		s.logger.Warn("cannot read free disk space", zap.Error(err))
		return cur
	}
	next := disk_usage.DiskUsage_Normal
	if avail < s.cfg.ReserveSpace {
		next = disk_usage.DiskUsage_AlmostFull
	}
	if next != cur {
		if next == disk_usage.DiskUsage_Normal {
			s.logger.Info("disk has room again: accepting writes", zap.Uint64("available", avail),
				zap.Uint64("reserve-space", s.cfg.ReserveSpace))
		} else {
			s.logger.Warn("disk almost full: refusing writes until space is freed", zap.Uint64("available", avail),
				zap.Uint64("reserve-space", s.cfg.ReserveSpace), zap.String("data-dir", s.engines.Dir()))
		}
		g.usage.Store(int32(next))
	}
	return next
}

func (s *Store) diskAvailable() (uint64, error) {
	if s.cfg.DiskAvailable != nil {
		return s.cfg.DiskAvailable(s.engines.Dir())
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.engines.Dir(), &fs); err != nil {
		return 0, err
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}

// notePeerDisk records the disk state a peer's store sent with a message.
func (p *peer) notePeerDisk(peerID uint64, u disk_usage.DiskUsage) {
	if u == disk_usage.DiskUsage_Normal {
		delete(p.peerDisk, peerID)
		return
	}
	if p.peerDisk == nil {
		p.peerDisk = make(map[uint64]disk_usage.DiskUsage)
	}
	p.peerDisk[peerID] = u
}

// diskFullError is why the leader refuses a write now, or nil: its own
// store is low on disk, or so many voters' stores are that the rest cannot
// make a quorum.
func (p *peer) diskFullError() *errorpb.Error {
	if p.store.diskUsage() != disk_usage.DiskUsage_Normal {
		return &errorpb.Error{Message: "disk full", DiskFull: &errorpb.DiskFull{StoreId: []uint64{p.store.storeID},
			Reason: fmt.Sprintf("store %d has less than reserve-space (%d bytes) free", p.store.storeID, p.store.cfg.ReserveSpace)}}
	}
	if len(p.peerDisk) == 0 {
		return nil
	}
	voters, roomy := 0, 0
	var full []uint64
	for _, pr := range p.region.Peers {
		if !isVoter(pr) {
			continue
		}
		voters++
		if _, low := p.peerDisk[pr.Id]; low && pr.Id != p.meta.Id {
			full = append(full, pr.StoreId)
		} else {
			roomy++
		}
	}
	if roomy > voters/2 {
		return nil
	}
	return &errorpb.Error{Message: "disk full", DiskFull: &errorpb.DiskFull{StoreId: full,
		Reason: fmt.Sprintf("%d of %d voters are on stores low on disk", len(full), voters)}}
}

// writesData reports whether a command writes keys (not only reads them).
func writesData(reqs []*raft_cmdpb.Request) bool {
	for _, r := range reqs {
		switch r.CmdType {
		case raft_cmdpb.CmdType_Get, raft_cmdpb.CmdType_Snap:
		default:
			return true
		}
	}
	return false
}
