package hot

import (
	"math"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestCache(cfg Config) (*Cache, *clock) {
	clk := &clock{t: time.Unix(1_000_000, 0)}
	return NewCache(func() Config { return cfg }, clk.now), clk
}

// writes returns counts of n requests, n keys and n*100 bytes written.
func writes(n uint64) Counts {
	var c Counts
	c[Write] = [3]uint64{n * 100, n, n}
	return c
}

func sample(id, leader uint64, c Counts, span time.Duration) Sample {
	return Sample{RegionID: id, LeaderStore: leader, Stores: []uint64{1, 2, 3}, Counts: c, Interval: span}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestFirstSampleSetsTheRateAndLaterOnesMoveByTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window = time.Minute
	c, clk := newTestCache(cfg)
	c.Observe(sample(1, 1, writes(600), 10*time.Second))
	r, ok := c.Region(1)
	if !ok || !near(r.Loads[Write][Queries], 60) || !near(r.Loads[Write][Bytes], 6000) {
		t.Fatalf("first sample: %+v", r.Loads)
	}
	// The rate drops to 0 for one window: the average moves 1-1/e of the way.
	clk.advance(time.Minute)
	c.Observe(sample(1, 1, Counts{}, time.Minute))
	r, _ = c.Region(1)
	if want := 60 * math.Exp(-1); !near(r.Loads[Write][Queries], want) {
		t.Fatalf("after a window at 0: %v, want %v", r.Loads[Write][Queries], want)
	}
}

// The smoothed rate at a moment does not depend on how often the region
// heartbeats: the same traffic reported every second or every 10 seconds
// gives the same average.
func TestAverageIndependentOfHeartbeatPace(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window = 30 * time.Second
	fast, fclk := newTestCache(cfg)
	slow, sclk := newTestCache(cfg)
	rate := func(sec int) uint64 { // 100/s for a minute, then 10/s
		if sec < 60 {
			return 100
		}
		return 10
	}
	for sec := 0; sec < 120; sec++ {
		fclk.advance(time.Second)
		fast.Observe(sample(7, 1, writes(rate(sec)), time.Second))
	}
	var acc uint64
	for sec := 0; sec < 120; sec++ {
		acc += rate(sec)
		if (sec+1)%10 == 0 {
			sclk.advance(10 * time.Second)
			slow.Observe(sample(7, 1, writes(acc), 10*time.Second))
			acc = 0
		}
	}
	f, _ := fast.Region(7)
	s, _ := slow.Region(7)
	want := 10 + 90*math.Exp(-60.0/30)
	if !near(f.Loads[Write][Keys], want) || !near(s.Loads[Write][Keys], want) {
		t.Fatalf("fast %v, slow %v, want %v", f.Loads[Write][Keys], s.Loads[Write][Keys], want)
	}
}

func TestShortIntervalsAreCarried(t *testing.T) {
	c, _ := newTestCache(DefaultConfig())
	// A heartbeat without an interval (a new leader's first) counts for
	// nothing.
	first := sample(1, 1, writes(1000), 0)
	first.NoInterval = true
	c.Observe(first)
	if r, _ := c.Region(1); r.Sampled {
		t.Fatalf("a heartbeat without an interval gave a rate: %+v", r)
	}
	// Intervals are whole seconds: heartbeats 0.5 s apart alternate between
	// spans of 0 and 1 s. A short span is carried until it adds up to a
	// second.
	c.Observe(sample(1, 1, writes(30), 0))
	if r, _ := c.Region(1); r.Sampled {
		t.Fatal("a 0s span gave a rate")
	}
	c.Observe(sample(1, 1, writes(70), time.Second))
	r, _ := c.Region(1)
	if !r.Sampled || !near(r.Loads[Write][Keys], 100) {
		t.Fatalf("carried sample: %+v", r.Loads)
	}
}

func TestHotAfterHitsThresholdSamples(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HitsThreshold = 3
	c, clk := newTestCache(cfg)
	for i := 1; i <= 3; i++ {
		clk.advance(time.Minute)
		c.Observe(sample(1, 1, writes(60*60), time.Minute)) // 60 writes/s
		c.Observe(sample(2, 2, writes(60), time.Minute))    // 1 write/s
		r, _ := c.Region(1)
		if r.Hot[Write] != (i == 3) || r.Degree[Write] != i || r.Hot[Read] {
			t.Fatalf("sample %d: hot %v degree %v", i, r.Hot, r.Degree)
		}
	}
	hot := c.HotRegions(Write, Queries)
	if len(hot) != 1 || hot[0].RegionID != 1 {
		t.Fatalf("hot regions %+v", hot)
	}
	// Idle for long enough that the average falls below the minimum: the
	// streak ends.
	cold := cfg.Window * 10
	clk.advance(cold)
	c.Observe(sample(1, 1, Counts{}, cold))
	if r, _ := c.Region(1); r.Hot[Write] || r.Degree[Write] != 0 {
		t.Fatalf("still hot after idling: %+v", r)
	}
}

func TestStoreSums(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HitsThreshold = 1
	c, _ := newTestCache(cfg)
	var rw Counts
	rw[Read] = [3]uint64{10000 * 60, 100 * 60, 50 * 60}
	rw[Write] = [3]uint64{500 * 60, 40 * 60, 40 * 60}
	c.Observe(Sample{RegionID: 1, LeaderStore: 1, Stores: []uint64{1, 2, 3}, Counts: rw, Interval: time.Minute})
	c.Observe(Sample{RegionID: 2, LeaderStore: 2, Stores: []uint64{1, 2, 4}, Counts: rw, Interval: time.Minute})
	c.ObserveStore(3, writes(10*60), time.Minute)
	byID := map[uint64]StoreStat{}
	for _, s := range c.Stores() {
		byID[s.StoreID] = s
	}
	s1, s3, s4 := byID[1], byID[3], byID[4]
	if !near(s1.Leader[Read][Bytes], 10000) || !near(s1.Peer[Read][Bytes], 10000) || !near(s1.Peer[Write][Bytes], 1000) {
		t.Fatalf("store 1: %+v", s1)
	}
	if s1.HotLeaders != [2]int{1, 1} || s1.HotPeers != [2]int{1, 2} {
		t.Fatalf("store 1 hot counts: leaders %v peers %v", s1.HotLeaders, s1.HotPeers)
	}
	// A follower bears the writes, not the reads.
	if s3.Leader != (Loads{}) || s3.Peer[Read][Bytes] != 0 || !near(s3.Peer[Write][Keys], 40) {
		t.Fatalf("store 3: %+v", s3)
	}
	if !near(s3.Reported[Write][Keys], 10) || s4.Reported != (Loads{}) {
		t.Fatalf("reported: store 3 %+v, store 4 %+v", s3.Reported, s4.Reported)
	}
}

func TestExpiryAndRemove(t *testing.T) {
	cfg := DefaultConfig()
	c, clk := newTestCache(cfg)
	c.Observe(sample(1, 1, writes(60), time.Minute))
	c.Observe(sample(2, 1, writes(60), time.Minute))
	c.Remove(2)
	if rs := c.Regions(); len(rs) != 1 || rs[0].RegionID != 1 {
		t.Fatalf("after remove: %+v", rs)
	}
	clk.advance(expireSamples*cfg.Window - time.Second)
	if len(c.Regions()) != 1 {
		t.Fatal("expired too early")
	}
	clk.advance(2 * time.Second)
	if rs := c.Regions(); len(rs) != 0 {
		t.Fatalf("not expired: %+v", rs)
	}
}

func TestLeaderChangeMovesTheLoad(t *testing.T) {
	cfg := DefaultConfig()
	c, _ := newTestCache(cfg)
	c.Observe(sample(1, 1, writes(600), time.Minute))
	// The new leader's first heartbeat carries no interval: the region's
	// load stays, and now counts on store 2.
	first := sample(1, 2, writes(5), 0)
	first.NoInterval = true
	c.Observe(first)
	for _, s := range c.Stores() {
		want := 0.0
		if s.StoreID == 2 {
			want = 10
		}
		if !near(s.Leader[Write][Queries], want) {
			t.Fatalf("store %d leader load %v, want %v", s.StoreID, s.Leader[Write][Queries], want)
		}
	}
}

func TestSampleFromHeartbeat(t *testing.T) {
	req := &pdpb.RegionHeartbeatRequest{
		Region: &metapb.Region{Id: 9, StartKey: []byte("a"), EndKey: []byte("b"),
			Peers: []*metapb.Peer{{Id: 1, StoreId: 4}, {Id: 2, StoreId: 5}}},
		Leader:       &metapb.Peer{Id: 2, StoreId: 5},
		BytesWritten: 10, KeysWritten: 2, BytesRead: 30, KeysRead: 3,
		QueryStats: &pdpb.QueryStats{Get: 1, Scan: 2, Put: 3, Delete: 4, DeleteRange: 5},
		Interval:   &pdpb.TimeInterval{StartTimestamp: 100, EndTimestamp: 160},
	}
	s := SampleFromHeartbeat(req)
	want := Counts{{30, 3, 3}, {10, 2, 12}}
	if s.RegionID != 9 || s.LeaderStore != 5 || len(s.Stores) != 2 || s.Counts != want || s.Interval != time.Minute || s.NoInterval {
		t.Fatalf("sample %+v", s)
	}
	req.Interval = nil
	if s := SampleFromHeartbeat(req); !s.NoInterval {
		t.Fatalf("no interval: %+v", s)
	}
	req.Interval = &pdpb.TimeInterval{StartTimestamp: 100, EndTimestamp: 100}
	if s := SampleFromHeartbeat(req); s.NoInterval || s.Interval != 0 {
		t.Fatalf("zero interval: %+v", s)
	}
}
