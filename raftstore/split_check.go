package raftstore

import (
	"bytes"
	"sync"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// The split checker. Each leader keeps an estimate of its region's size
// and keys, moved by the bytes and keys its apply reports (sizeDiffHint);
// every SplitCheckTicks, a leader whose estimate moved by more than
// splitCheckDiff since the last check asks the store's split-check worker
// to measure the region. The worker scans the region in a kv snapshot,
// once, bounded: it stops after MaxSplitKeys split points (a region far too
// big splits in several rounds). Past region-max-size or region-max-keys, it
// returns a split key every region-split-size bytes / region-split-keys
// keys; the leader then asks the scheduler for IDs and proposes the split.
// A scheduler SplitRegion operator without keys asks for the middle key.

// maxHalfSamples bounds the keys a half-split scan keeps.
const maxHalfSamples = 1024

type splitCheckTask struct {
	region *metapb.Region
	half   bool // find the middle key, whatever the size
}

type splitCheckResult struct {
	epoch     *metapb.RegionEpoch
	size      uint64
	keys      uint64
	splitKeys [][]byte
}

type splitChecker struct {
	s     *Store
	tasks chan splitCheckTask
	wg    sync.WaitGroup
}

func newSplitChecker(s *Store) *splitChecker {
	return &splitChecker{s: s, tasks: make(chan splitCheckTask, 1024)}
}

func (c *splitChecker) start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.s.stopCh:
				return
			case t := <-c.tasks:
				res, err := c.check(t)
				if err != nil {
					c.s.logger.Debug("split check", zap.Uint64("region-id", t.region.Id), zap.Error(err))
					res = &splitCheckResult{epoch: t.region.RegionEpoch}
				}
				c.s.router.send(t.region.Id, peerMsg{kind: msgSplitCheck, splitCheck: res})
			}
		}
	}()
}

// schedule queues a check; false if the queue is full.
func (c *splitChecker) schedule(t splitCheckTask) bool {
	select {
	case c.tasks <- t:
		return true
	default:
		return false
	}
}

// check measures a region and picks split keys.
func (c *splitChecker) check(t splitCheckTask) (*splitCheckResult, error) {
	cfg := &c.s.cfg
	view, err := c.s.engines.NewSnapshot()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	r := t.region
	res := &splitCheckResult{epoch: r.RegionEpoch}
	var samples [][]byte
	step, seen := uint64(1), uint64(0)
	var sinceBytes, sinceKeys uint64
	for _, cf := range engine.CFs {
		it, err := view.NewCFIterator(cf, engine.IterOptions{LowerBound: r.StartKey, UpperBound: r.EndKey})
		if err != nil {
			return nil, err
		}
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Key()
			v, err := it.Value()
			if err != nil {
				it.Close()
				return nil, err
			}
			sz := uint64(len(k) + len(v))
			res.size += sz
			res.keys++
			if cf != engine.CFDefault {
				continue
			}
			if t.half {
				if seen%step == 0 {
					samples = append(samples, bytes.Clone(k))
					if len(samples) >= maxHalfSamples {
						// Keep every other sample, double the step.
						for i := 0; i < len(samples)/2; i++ {
							samples[i] = samples[2*i]
						}
						samples = samples[:len(samples)/2]
						step *= 2
					}
				}
				seen++
				continue
			}
			if (sinceBytes >= cfg.RegionSplitSize || sinceKeys >= cfg.RegionSplitKeys) && !bytes.Equal(k, r.StartKey) {
				res.splitKeys = append(res.splitKeys, bytes.Clone(k))
				sinceBytes, sinceKeys = 0, 0
				if len(res.splitKeys) >= cfg.MaxSplitKeys {
					break
				}
			}
			sinceBytes += sz
			sinceKeys++
		}
		err = it.Err()
		it.Close()
		if err != nil {
			return nil, err
		}
	}
	if t.half {
		if len(samples) > 1 {
			mid := samples[len(samples)/2]
			if !bytes.Equal(mid, r.StartKey) {
				res.splitKeys = [][]byte{mid}
			}
		}
		return res, nil
	}
	if res.size <= cfg.RegionMaxSize && res.keys <= cfg.RegionMaxKeys {
		res.splitKeys = nil
	}
	// The last piece may be tiny; dropping its split key keeps pieces at
	// least half the split size.
	if n := len(res.splitKeys); n > 1 && sinceBytes < cfg.RegionSplitSize/2 && sinceKeys < cfg.RegionSplitKeys/2 {
		res.splitKeys = res.splitKeys[:n-1]
	}
	return res, nil
}

// maybeScheduleSplitCheck runs on a leader's tick.
func (p *peer) maybeScheduleSplitCheck() {
	cfg := &p.store.cfg
	if !p.isLeader() || p.splitChecking || p.sizeDiffHint < cfg.splitCheckDiff() || !p.ps.isInitialized() {
		return
	}
	if p.store.splitCheck.schedule(splitCheckTask{region: p.region}) {
		p.splitChecking = true
		p.sizeDiffHint = 0
	}
}

// onSplitCheck takes the checker's result.
func (p *peer) onSplitCheck(res *splitCheckResult) {
	p.splitChecking = false
	if res.epoch.GetVersion() != p.region.RegionEpoch.GetVersion() {
		return // the region changed meanwhile
	}
	if res.size > 0 || res.keys > 0 {
		p.approxSize, p.approxKeys = res.size, res.keys
	}
	if len(res.splitKeys) == 0 || !p.isLeader() {
		return
	}
	p.logger.Info("split check wants a split", zap.Uint64("size", res.size), zap.Uint64("keys", res.keys),
		zap.Int("split-keys", len(res.splitKeys)))
	logger := p.logger
	p.store.askSplit(p.region, res.splitKeys, func(_ []*metapb.Region, err error) {
		if err != nil {
			logger.Info("split failed", zap.Error(err))
		}
	})
}

// onWritten accounts applied writes (raft worker).
func (p *peer) onWritten(bytes, keys uint64) {
	if bytes == 0 && keys == 0 {
		return
	}
	p.sizeDiffHint += bytes
	p.approxSize += bytes
	p.approxKeys += keys
	p.stats.bytesWritten += bytes
	p.stats.keysWritten += keys
	p.store.stats.bytesWritten.Add(int64(bytes))
	p.store.stats.keysWritten.Add(int64(keys))
}
