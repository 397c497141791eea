// Package hot keeps the scheduler's load statistics: for every region and
// every store, the bytes, keys and requests read and written per second,
// smoothed over a window, from the traffic the heartbeats report; and which
// regions are hot, so that balance-hot-region can move their leaders and
// peers off the hottest stores.
//
// A region heartbeat reports its traffic since the leader's previous one
// and the interval it covers, in whole unix seconds. Samples that cover less
// than a second are carried into the next one (the truncated bounds of
// consecutive intervals add up to the true span, give or take a second
// overall). Each sample updates a time-weighted exponential moving average:
// a rate x held for d moves the average a fraction 1-exp(-d/window) of the
// way to x, so the result does not depend on how often the region
// heartbeats. The first sample of a region sets its average outright: a
// region just split off a hot one is seen at its rate at once.
//
// A region is hot for reads (or writes) once its smoothed rates have been
// at or above a minimum in some dimension for HitsThreshold samples in a
// row. Store loads are sums over the regions: a leader serves its region's
// reads and proposes its writes (leader load); every replica applies the
// writes (peer load; for reads, only the leader bears them).
//
// The package knows nothing of the cluster model. Its owner
// feeds it the heartbeats it accepted and drops the regions it removed.
package hot

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// Kind is reads or writes.
type Kind int

// Kinds.
const (
	Read Kind = iota
	Write
)

// Kinds lists both kinds, in order.
var Kinds = [...]Kind{Read, Write}

func (k Kind) String() string {
	if k == Read {
		return "read"
	}
	return "write"
}

// Dim is what a load counts.
type Dim int

// Dimensions.
const (
	Bytes Dim = iota
	Keys
	Queries
)

// Dims lists the dimensions, in order.
var Dims = [...]Dim{Bytes, Keys, Queries}

var dimNames = [...]string{"bytes", "keys", "queries"}

func (d Dim) String() string { return dimNames[d] }

// ParseDim reads a dimension's name; ok is false for an unknown one.
func ParseDim(s string) (Dim, bool) {
	for i, n := range dimNames {
		if n == s {
			return Dim(i), true
		}
	}
	return 0, false
}

// Loads are rates per second, by kind and dimension.
type Loads [2][3]float64

// Get is the rate of kind k in dimension d.
func (l *Loads) Get(k Kind, d Dim) float64 { return l[k][d] }

// Add adds f times o to l.
func (l *Loads) Add(o Loads, f float64) {
	for k := range l {
		for d := range l[k] {
			l[k][d] += f * o[k][d]
		}
	}
}

// Counts are traffic totals over an interval, by kind and dimension.
type Counts [2][3]uint64

// Sample is one region heartbeat as the cache needs it.
type Sample struct {
	RegionID    uint64
	LeaderStore uint64
	Stores      []uint64 // every replica's store, the leader's included
	StartKey    []byte
	EndKey      []byte
	Counts      Counts
	// Interval is the span the counts cover, in whole seconds as
	// heartbeats report it (so possibly 0). Without one (NoInterval: a
	// leader's first heartbeat) the counts are dropped.
	Interval   time.Duration
	NoInterval bool
}

// Config tunes the cache; its owner may change it at any time.
type Config struct {
	// Window is the time constant of the moving averages.
	Window time.Duration
	// HitsThreshold is how many samples in a row a region must be at or
	// above MinHot to count as hot.
	HitsThreshold int
	// MinHot are the smallest rates at which a region counts as hot (in
	// any one dimension of the kind).
	MinHot Loads
}

// DefaultMinHot are the defaults of Config.MinHot: 8 KiB/s, 128 keys/s
// or 128 requests/s read; 1 KiB/s, 32 keys/s or 32 requests/s written.
var DefaultMinHot = Loads{{8 << 10, 128, 128}, {1 << 10, 32, 32}}

// DefaultConfig returns the defaults: a 2-minute window, hot after 3
// samples (the region heartbeat is a minute by default).
func DefaultConfig() Config {
	return Config{Window: 2 * time.Minute, HitsThreshold: 3, MinHot: DefaultMinHot}
}

// minSample is the shortest span a sample may cover; shorter ones are
// carried into the next (intervals are in whole seconds).
const minSample = time.Second

// expireSamples: an entry not updated for this many windows (or this many
// of its own sample spans, if longer) is dropped: its region went away
// unnoticed, or its store did.
const expireSamples = 3

// average is a time-weighted exponential moving average.
type average struct {
	v   float64
	set bool
}

// add folds in rate x held for d.
func (a *average) add(x float64, d, window time.Duration) {
	if !a.set || window <= 0 {
		a.v, a.set = x, true
		return
	}
	w := 1 - math.Exp(-float64(d)/float64(window))
	a.v += w * (x - a.v)
}

// accumulator turns interval totals into smoothed rates.
type accumulator struct {
	pending     Counts
	pendingSpan time.Duration
	avg         [2][3]average
	lastSpan    time.Duration
	updated     time.Time
}

// add takes one interval's counts (span < 0: no interval known); true
// when a sample was folded in.
func (a *accumulator) add(c Counts, span, window time.Duration, now time.Time) bool {
	a.updated = now
	if span < 0 {
		return false
	}
	for k := range c {
		for d := range c[k] {
			a.pending[k][d] += c[k][d]
		}
	}
	a.pendingSpan += span
	if a.pendingSpan < minSample {
		return false
	}
	secs := a.pendingSpan.Seconds()
	for k := range a.pending {
		for d := range a.pending[k] {
			a.avg[k][d].add(float64(a.pending[k][d])/secs, a.pendingSpan, window)
		}
	}
	a.lastSpan, a.pending, a.pendingSpan = a.pendingSpan, Counts{}, 0
	return true
}

func (a *accumulator) loads() Loads {
	var l Loads
	for k := range a.avg {
		for d := range a.avg[k] {
			l[k][d] = a.avg[k][d].v
		}
	}
	return l
}

func (a *accumulator) expired(now time.Time, window time.Duration) bool {
	return now.Sub(a.updated) > expireSamples*max(window, a.lastSpan)
}

type regionEntry struct {
	acc    accumulator
	stat   RegionStat // meta of the last heartbeat
	degree [2]int
}

type storeEntry struct {
	acc accumulator
}

// Cache holds the statistics. It is safe for concurrent use.
type Cache struct {
	cfg func() Config
	now func() time.Time

	mu      sync.Mutex
	regions map[uint64]*regionEntry
	stores  map[uint64]*storeEntry
}

// NewCache returns an empty cache reading its config from cfg (nil: the
// defaults) and its clock from now (nil: time.Now).
func NewCache(cfg func() Config, now func() time.Time) *Cache {
	if cfg == nil {
		cfg = DefaultConfig
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{cfg: cfg, now: now, regions: map[uint64]*regionEntry{}, stores: map[uint64]*storeEntry{}}
}

// RegionStat is one region's statistics.
type RegionStat struct {
	RegionID    uint64
	LeaderStore uint64
	Stores      []uint64
	StartKey    []byte
	EndKey      []byte
	// Loads are the smoothed rates; Degree counts the samples in a row at
	// or above the minimum, per kind; Hot is Degree >= HitsThreshold.
	Loads   Loads
	Degree  [2]int
	Hot     [2]bool
	Updated time.Time
	// Sampled is false until a sample with an interval arrived: Loads are
	// not known yet.
	Sampled bool
}

// Observe takes a region heartbeat the owner accepted.
func (c *Cache) Observe(s Sample) {
	cfg, now := c.cfg(), c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.regions[s.RegionID]
	if e == nil {
		e = &regionEntry{}
		c.regions[s.RegionID] = e
	}
	e.stat.RegionID, e.stat.LeaderStore = s.RegionID, s.LeaderStore
	e.stat.Stores = append(e.stat.Stores[:0], s.Stores...)
	e.stat.StartKey, e.stat.EndKey = s.StartKey, s.EndKey
	span := s.Interval
	if s.NoInterval {
		span = -1
	}
	if !e.acc.add(s.Counts, span, cfg.Window, now) {
		return
	}
	e.stat.Sampled = true
	l := e.acc.loads()
	for _, k := range Kinds {
		if aboveMin(&l, &cfg.MinHot, k) {
			e.degree[k]++
		} else {
			e.degree[k] = 0
		}
	}
}

func aboveMin(l, min *Loads, k Kind) bool {
	for _, d := range Dims {
		if min[k][d] > 0 && l[k][d] >= min[k][d] {
			return true
		}
	}
	return false
}

// ObserveStore takes a store heartbeat's traffic over span (< 0: unknown).
func (c *Cache) ObserveStore(id uint64, counts Counts, span time.Duration) {
	cfg, now := c.cfg(), c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.stores[id]
	if e == nil {
		e = &storeEntry{}
		c.stores[id] = e
	}
	e.acc.add(counts, span, cfg.Window, now)
}

// Remove drops regions (merged into others, or gone).
func (c *Cache) Remove(ids ...uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.regions, id)
	}
}

// expireLocked drops the entries that stopped reporting.
func (c *Cache) expireLocked(now time.Time, window time.Duration) {
	for id, e := range c.regions {
		if e.acc.expired(now, window) {
			delete(c.regions, id)
		}
	}
	for id, e := range c.stores {
		if e.acc.expired(now, window) {
			delete(c.stores, id)
		}
	}
}

func (e *regionEntry) view(threshold int) RegionStat {
	st := e.stat
	st.Stores = append([]uint64(nil), e.stat.Stores...)
	st.Loads = e.acc.loads()
	st.Degree = e.degree
	for _, k := range Kinds {
		st.Hot[k] = e.degree[k] >= threshold
	}
	st.Updated = e.acc.updated
	return st
}

// Region returns one region's statistics.
func (c *Cache) Region(id uint64) (RegionStat, bool) {
	cfg := c.cfg()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.regions[id]
	if e == nil {
		return RegionStat{}, false
	}
	return e.view(cfg.HitsThreshold), true
}

// Regions returns every region's statistics with a known load, by region
// ID.
func (c *Cache) Regions() []RegionStat {
	cfg, now := c.cfg(), c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now, cfg.Window)
	out := make([]RegionStat, 0, len(c.regions))
	for _, e := range c.regions {
		if e.stat.Sampled {
			out = append(out, e.view(cfg.HitsThreshold))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RegionID < out[j].RegionID })
	return out
}

// HotRegions returns the regions hot for kind k, the highest rate in
// dimension d first (ties by region ID).
func (c *Cache) HotRegions(k Kind, d Dim) []RegionStat {
	var out []RegionStat
	for _, r := range c.Regions() {
		if r.Hot[k] {
			out = append(out, r)
		}
	}
	SortBy(out, k, d)
	return out
}

// SortBy orders rs by their rate of kind k in dimension d, highest first,
// ties by region ID.
func SortBy(rs []RegionStat, k Kind, d Dim) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Loads[k][d], rs[j].Loads[k][d]
		if a != b {
			return a > b
		}
		return rs[i].RegionID < rs[j].RegionID
	})
}

// StoreStat is one store's load.
type StoreStat struct {
	StoreID uint64
	// Leader sums the loads of the regions it leads; Peer those it holds a
	// replica of (writes on every replica, reads on the leader's only).
	Leader Loads
	Peer   Loads
	// HotLeaders and HotPeers count the hot regions it leads and holds,
	// per kind.
	HotLeaders [2]int
	HotPeers   [2]int
	// Reported are the store heartbeats' own rates, smoothed (every key
	// its peers applied, leaders and followers); zero until reported.
	Reported Loads
}

// PeerLoads is what one replica of a region bears: all of it on the
// leader, the writes alone on a follower.
func PeerLoads(l Loads, leader bool) Loads {
	if !leader {
		l[Read] = [3]float64{}
	}
	return l
}

// Stores sums the loads per store, from the regions' statistics and the
// stores' heartbeats, by store ID.
func (c *Cache) Stores() []StoreStat {
	regions := c.Regions()
	c.mu.Lock()
	m := map[uint64]*StoreStat{}
	get := func(id uint64) *StoreStat {
		s := m[id]
		if s == nil {
			s = &StoreStat{StoreID: id}
			m[id] = s
		}
		return s
	}
	for id, e := range c.stores {
		get(id).Reported = e.acc.loads()
	}
	c.mu.Unlock()
	for _, r := range regions {
		for _, id := range r.Stores {
			s := get(id)
			leader := id == r.LeaderStore
			s.Peer.Add(PeerLoads(r.Loads, leader), 1)
			if leader {
				s.Leader.Add(r.Loads, 1)
			}
			for _, k := range Kinds {
				if !r.Hot[k] || (k == Read && !leader) {
					continue
				}
				s.HotPeers[k]++
				if leader {
					s.HotLeaders[k]++
				}
			}
		}
	}
	out := make([]StoreStat, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StoreID < out[j].StoreID })
	return out
}

// SampleFromHeartbeat reads a region heartbeat's traffic: bytes and keys
// as reported, requests from its query_stats (reads: gets, scans and
// coprocessor requests; writes: every kind of write).
func SampleFromHeartbeat(req *pdpb.RegionHeartbeatRequest) Sample {
	s := Sample{RegionID: req.Region.GetId(), LeaderStore: req.Leader.GetStoreId(),
		StartKey: req.Region.GetStartKey(), EndKey: req.Region.GetEndKey(),
		NoInterval: req.Interval == nil}
	if !s.NoInterval {
		s.Interval = intervalOf(req.Interval)
	}
	for _, p := range req.Region.GetPeers() {
		s.Stores = append(s.Stores, p.StoreId)
	}
	s.Counts = countsOf(req.BytesRead, req.KeysRead, req.BytesWritten, req.KeysWritten, req.QueryStats)
	return s
}

// StoreCounts reads a store heartbeat's traffic and the span it covers (-1
// when it has none).
func StoreCounts(st *pdpb.StoreStats) (Counts, time.Duration) {
	return countsOf(st.BytesRead, st.KeysRead, st.BytesWritten, st.KeysWritten, st.QueryStats), intervalOf(st.Interval)
}

func countsOf(bytesRead, keysRead, bytesWritten, keysWritten uint64, q *pdpb.QueryStats) Counts {
	var c Counts
	c[Read] = [3]uint64{bytesRead, keysRead, q.GetGet() + q.GetScan() + q.GetCoprocessor()}
	c[Write] = [3]uint64{bytesWritten, keysWritten, q.GetPut() + q.GetDelete() + q.GetDeleteRange() +
		q.GetPrewrite() + q.GetCommit() + q.GetRollback() + q.GetAcquirePessimisticLock()}
	return c
}

// intervalOf is the span of ti; -1 when there is none, 0 when it is
// shorter than its resolution (or runs backwards: a clock step).
func intervalOf(ti *pdpb.TimeInterval) time.Duration {
	if ti == nil {
		return -1
	}
	if ti.EndTimestamp <= ti.StartTimestamp {
		return 0
	}
	return time.Duration(ti.EndTimestamp-ti.StartTimestamp) * time.Second
}
