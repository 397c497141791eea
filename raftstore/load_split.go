package raftstore

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Load-based split. A region can be small and still take more requests
// than one leader serves well; splitting it by size never happens, and
// moving its leader only moves the problem. So every leader counts the
// requests and bytes its region serves per window (LoadSplitConfig.Window,
// a second). Once a window is over QPSThreshold or ByteThreshold, the
// leader also samples the requests: a reservoir of SampleNum key ranges
// (a point read or write is the range of one key, a scan or delete-range
// its bounds). When DetectTimes windows in a row were over the threshold,
// it picks from the samples the key that best divides them into requests
// wholly left of it and wholly right of it, with few spanning it
// (pickSplitKey), and asks for a split there through the same path as a
// size split (askSplit). A window under the thresholds starts the count
// again; so does a split, a leader change, and a sample that found no key
// dividing the load (one hot key cannot be divided).
//
// The hot path (record) is two atomic adds and a load while the region is
// cold; while it samples, one more atomic add, a hash, and the reservoir's
// mutex only for requests that enter it (all of the first SampleNum, then
// ever fewer: SampleNum/n of the n-th). BenchmarkLoadSampler measures it.

// LoadSplitConfig tunes load-based split. QPSThreshold and ByteThreshold
// of zero disable their criterion; both zero disable load-based split.
type LoadSplitConfig struct {
	// QPSThreshold (requests per second) and ByteThreshold (bytes per
	// second, read and written) make a window hot.
	QPSThreshold  uint64
	ByteThreshold uint64
	// DetectTimes hot windows in a row lead to a split; the samples are
	// taken in all of them but the first.
	DetectTimes int
	// Window is one detection window.
	Window time.Duration
	// SampleNum is the size of the reservoir of requests.
	SampleNum int
	// BalanceScore is the largest acceptable |left-right|/(left+right) of
	// the sampled requests wholly on each side of the split key;
	// ContainedScore the largest acceptable fraction of them that span it.
	BalanceScore   float64
	ContainedScore float64
}

// DefaultLoadSplitConfig returns TiKV's thresholds: 3000 requests or 30
// MiB per second for 10 one-second windows.
func DefaultLoadSplitConfig() LoadSplitConfig {
	return LoadSplitConfig{QPSThreshold: 3000, ByteThreshold: 30 << 20, DetectTimes: 10, Window: time.Second,
		SampleNum: 256, BalanceScore: 0.25, ContainedScore: 0.5}
}

func (c *LoadSplitConfig) enabled() bool { return c.QPSThreshold > 0 || c.ByteThreshold > 0 }

// Validate reports what cannot work.
func (c *LoadSplitConfig) Validate() error {
	switch {
	case c.DetectTimes < 2:
		return fmt.Errorf("%w: load split detect-times %d: need at least 2 (one to notice, one to sample)",
			ErrInvalidConfig, c.DetectTimes)
	case c.Window <= 0:
		return fmt.Errorf("%w: load split window %s must be positive", ErrInvalidConfig, c.Window)
	case c.SampleNum < 16 || c.SampleNum > 1<<16:
		return fmt.Errorf("%w: load split sample-num %d is outside [16, 65536]", ErrInvalidConfig, c.SampleNum)
	case !(c.BalanceScore > 0 && c.BalanceScore <= 1):
		return fmt.Errorf("%w: load split balance score %v is outside (0, 1]", ErrInvalidConfig, c.BalanceScore)
	case !(c.ContainedScore > 0 && c.ContainedScore <= 1):
		return fmt.Errorf("%w: load split contained score %v is outside (0, 1]", ErrInvalidConfig, c.ContainedScore)
	}
	return nil
}

// keyRange is one sampled request: [start, end), or the key start alone
// when point is set. An empty end is the region's end. The zero value is
// a slot not filled yet.
type keyRange struct {
	start, end []byte
	point      bool
	valid      bool
}

// loadSampler counts and samples one region's requests. record runs on
// any goroutine (readers, the raft worker proposing writes); the window
// bookkeeping runs on the raft worker holding the region.
type loadSampler struct {
	cfg *LoadSplitConfig

	requests, bytes atomic.Uint64 // this window
	sampling        atomic.Bool
	seen            atomic.Uint64 // requests offered to the reservoir
	gen             atomic.Uint64 // bumped when the reservoir is emptied
	seed            uint64

	mu      sync.Mutex
	samples []keyRange // len SampleNum once sampling; the first min(seen, SampleNum) are valid

	// Raft worker only.
	windowStart time.Time
	hotWindows  int
	version     uint64 // region version the samples belong to
}

func (s *loadSampler) init(cfg *LoadSplitConfig, seed uint64) {
	s.cfg, s.seed = cfg, seed
}

// record counts one request over [start, end) (a point when point is set)
// carrying n bytes. A nil sampler records nothing.
func (s *loadSampler) record(start, end []byte, point bool, n int) {
	if s == nil || s.cfg == nil {
		return
	}
	s.requests.Add(1)
	if n > 0 {
		s.bytes.Add(uint64(n))
	}
	if !s.sampling.Load() {
		return
	}
	gen := s.gen.Load()
	seen := s.seen.Add(1)
	size := uint64(s.cfg.SampleNum)
	slot := seen - 1
	if seen > size {
		// Reservoir sampling (Vitter's algorithm R): the n-th request
		// replaces a random sample with probability size/n. The random
		// number is a hash of the request's number, so no state is shared
		// but the counter.
		slot = mix64(s.seed^seen) % seen
		if slot >= size {
			return
		}
	}
	kr := keyRange{start: bytes.Clone(start), end: bytes.Clone(end), point: point, valid: true}
	s.mu.Lock()
	if s.gen.Load() == gen && int(slot) < len(s.samples) {
		s.samples[slot] = kr
	}
	s.mu.Unlock()
}

// addBytes counts bytes of a request recorded already (a read's bytes are
// known once it ran).
func (s *loadSampler) addBytes(n int) {
	if s == nil || s.cfg == nil || n <= 0 {
		return
	}
	s.bytes.Add(uint64(n))
}

// mix64 is splitmix64's finalizer: a bijective hash whose outputs look
// random for consecutive inputs.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// startSampling empties the reservoir and starts filling it.
func (s *loadSampler) startSampling() {
	s.mu.Lock()
	s.gen.Add(1)
	if len(s.samples) != s.cfg.SampleNum {
		s.samples = make([]keyRange, s.cfg.SampleNum)
	} else {
		clear(s.samples)
	}
	s.seen.Store(0)
	s.mu.Unlock()
	s.sampling.Store(true)
}

// stop ends sampling and drops the samples and the streak.
func (s *loadSampler) stop() {
	s.sampling.Store(false)
	s.mu.Lock()
	s.gen.Add(1)
	s.samples = nil
	s.mu.Unlock()
	s.hotWindows = 0
}

// takeSamples returns the samples taken and stops sampling.
func (s *loadSampler) takeSamples() []keyRange {
	s.sampling.Store(false)
	s.mu.Lock()
	s.gen.Add(1)
	n := min(s.seen.Load(), uint64(len(s.samples)))
	out := s.samples[:n]
	s.samples = nil
	s.mu.Unlock()
	s.hotWindows = 0
	return out
}

// maybeLoadSplit closes the current window on a leader's tick, and asks for
// a split once the region stayed hot for DetectTimes windows.
func (p *peer) maybeLoadSplit(now time.Time) {
	s := &p.load
	cfg := s.cfg
	if cfg == nil || !cfg.enabled() {
		return
	}
	if !p.isLeader() || !p.ps.isInitialized() {
		if s.sampling.Load() || s.hotWindows > 0 {
			s.stop()
		}
		s.windowStart = time.Time{}
		return
	}
	if s.windowStart.IsZero() {
		s.windowStart = now
		s.requests.Store(0)
		s.bytes.Store(0)
		return
	}
	elapsed := now.Sub(s.windowStart)
	if elapsed < cfg.Window {
		return
	}
	s.windowStart = now
	reqs, nbytes := s.requests.Swap(0), s.bytes.Swap(0)
	secs := elapsed.Seconds()
	qps, bps := float64(reqs)/secs, float64(nbytes)/secs
	hot := (cfg.QPSThreshold > 0 && qps >= float64(cfg.QPSThreshold)) || (cfg.ByteThreshold > 0 && bps >= float64(cfg.ByteThreshold))
	version := p.region.RegionEpoch.GetVersion()
	if !hot || (s.hotWindows > 0 && s.version != version) {
		if s.hotWindows > 0 {
			s.stop()
		}
		if !hot {
			return
		}
	}
	s.hotWindows++
	if s.hotWindows == 1 {
		s.version = version
		s.startSampling()
		return
	}
	if s.hotWindows < cfg.DetectTimes {
		return
	}
	samples := s.takeSamples()
	key, st := pickSplitKey(samples, p.region, cfg.BalanceScore, cfg.ContainedScore)
	if key == nil {
		p.logger.Debug("load split: no key divides the load", zap.Float64("qps", qps), zap.Float64("bytes-per-second", bps),
			zap.Int("samples", len(samples)), zap.String("best", st.String()))
		return
	}
	p.logger.Info("load split wants a split", zap.Float64("qps", qps), zap.Float64("bytes-per-second", bps),
		zap.Binary("split-key", key), zap.String("score", st.String()))
	logger := p.logger
	p.store.askSplit(p.region, [][]byte{key}, func(_ []*metapb.Region, err error) {
		if err != nil {
			logger.Info("load split failed", zap.Error(err))
		}
	})
}

// splitScore describes how a key divides the sampled requests.
type splitScore struct {
	left, right, contained int
	balance                float64 // |left-right| / (left+right)
}

func (s splitScore) String() string {
	return fmt.Sprintf("left %d, right %d, spanning %d, balance %.2f", s.left, s.right, s.contained, s.balance)
}

// pickSplitKey picks, among the sampled requests' start keys strictly
// inside region, the key with the best balance between the requests wholly
// left and wholly right of it, among those whose balance is at most
// balanceScore and whose requests spanning it are at most containedScore of
// all. nil when no key qualifies; the score is then the best key's, if any.
func pickSplitKey(samples []keyRange, region *metapb.Region, balanceScore, containedScore float64) ([]byte, splitScore) {
	if len(samples) == 0 {
		return nil, splitScore{}
	}
	// Sorted views: point keys; start and end keys of ranges (an empty end
	// is the region's end: no candidate is at or after it).
	var points, starts, ends, cands [][]byte
	total := 0
	for _, r := range samples {
		if !r.valid {
			continue
		}
		total++
		if r.point {
			points = append(points, r.start)
		} else {
			starts = append(starts, r.start)
			if len(r.end) > 0 {
				ends = append(ends, r.end)
			}
		}
		if bytes.Compare(r.start, region.StartKey) > 0 && (len(region.EndKey) == 0 || bytes.Compare(r.start, region.EndKey) < 0) {
			cands = append(cands, r.start)
		}
	}
	for _, s := range [][][]byte{points, starts, ends, cands} {
		slices.SortFunc(s, bytes.Compare)
	}
	cands = slices.CompactFunc(cands, bytes.Equal)
	// below counts the keys of sorted less than k (or at most k).
	below := func(sorted [][]byte, k []byte, orEqual bool) int {
		i, found := slices.BinarySearchFunc(sorted, k, bytes.Compare)
		if orEqual && found {
			for i < len(sorted) && bytes.Equal(sorted[i], k) {
				i++
			}
		}
		return i
	}
	var best []byte
	bestScore := splitScore{balance: math.Inf(1)}
	var bestAny splitScore
	bestAnyBalance := math.Inf(1)
	for _, c := range cands {
		pl := below(points, c, false)
		st := splitScore{
			left:  pl + below(ends, c, true),
			right: len(points) - pl + len(starts) - below(starts, c, false),
		}
		st.contained = total - st.left - st.right
		if st.left == 0 || st.right == 0 {
			continue
		}
		st.balance = math.Abs(float64(st.left-st.right)) / float64(st.left+st.right)
		if st.balance < bestAnyBalance {
			bestAny, bestAnyBalance = st, st.balance
		}
		if st.balance > balanceScore || float64(st.contained) > containedScore*float64(total) {
			continue
		}
		if st.balance < bestScore.balance || (st.balance == bestScore.balance && st.contained < bestScore.contained) {
			best, bestScore = c, st
		}
	}
	if best == nil {
		return nil, bestAny
	}
	return best, bestScore
}
