package keyviz

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }
func written(n uint64) Stats             { return NewStats(n, 0, 0, 0) }
func key(s string) []byte                { return []byte(s) }
func keys(m *Matrix) []string            { return strs(m.Keys) }
func strs(bs [][]byte) (out []string) {
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func newHistory(t testing.TB, cfg Config, c *clock) *History {
	t.Helper()
	h, err := New(cfg, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestQueryRowsAndColumns: traffic lands in the row of its region and the
// column of the minute its heartbeat arrived; the column still filling is
// marked open and answers too.
func TestQueryRowsAndColumns(t *testing.T) {
	c := newClock()
	h := newHistory(t, DefaultConfig(), c)
	h.Observe(1, 1, nil, key("g"), written(10))
	h.Observe(2, 1, key("g"), key("p"), written(1000))
	h.Observe(3, 1, key("p"), nil, written(1))
	c.advance(time.Minute)
	h.Observe(2, 1, key("g"), key("p"), written(500))

	m, err := h.Query(Query{Metric: WrittenBytes, From: c.t.Add(-2 * time.Minute), To: c.t})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m), []string{"", "g", "p", ""}; !slices.Equal(got, want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
	want := [][]uint64{{0, 0, 0}, {10, 1000, 1}, {0, 500, 0}}
	if !slices.EqualFunc(m.Values, want, slices.Equal) {
		t.Fatalf("values = %v, want %v", m.Values, want)
	}
	if m.Open != 2 || m.Max != 1000 || !m.From.Equal(c.t.Add(-2*time.Minute)) {
		t.Fatalf("open %d max %d from %v", m.Open, m.Max, m.From)
	}
	if l, err := h.Query(Query{Metric: WrittenBytes, Last: time.Minute}); err != nil || len(l.Values) != 2 ||
		!slices.Equal(l.Values[0], want[1]) || l.Open != 1 {
		t.Fatalf("the last minute: %+v, %v; want the last two columns", l, err)
	}
	if r, _ := h.Query(Query{Metric: ReadBytes, From: c.t.Add(-time.Minute), To: c.t}); r.Max != 0 {
		t.Fatalf("read-bytes max = %d with no reads", r.Max)
	}
}

// TestSplitKeepsPictureContinuous: a region that splits keeps its key
// range's rows; the old column's traffic shows on both halves (each row is
// the traffic of the regions overlapping it), the new column's on its half.
func TestSplitKeepsPictureContinuous(t *testing.T) {
	c := newClock()
	h := newHistory(t, DefaultConfig(), c)
	h.Observe(1, 1, key("a"), key("z"), written(100))
	c.advance(time.Minute)
	h.Observe(1, 2, key("a"), key("m"), written(7))
	h.Observe(5, 2, key("m"), key("z"), written(900))

	m, err := h.Query(Query{Metric: WrittenBytes, From: c.t.Add(-time.Minute), To: c.t, StartKey: key("a"), EndKey: key("z")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m), []string{"a", "m", "z"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
	want := [][]uint64{{100, 100}, {7, 900}}
	if !slices.EqualFunc(m.Values, want, slices.Equal) {
		t.Fatalf("values = %v, want %v", m.Values, want)
	}
	// Asked for one row, the two halves merge and each region counts once.
	one, err := h.Query(Query{Metric: WrittenBytes, From: c.t.Add(-time.Minute), To: c.t, Rows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]uint64{{100}, {907}}; !slices.EqualFunc(one.Values, want, slices.Equal) {
		t.Fatalf("one row: values = %v, want %v", one.Values, want)
	}
}

// TestCompactBoundsRowsAndKeepsTotals: a closed column keeps at most
// MaxRows segments, and merging them loses no traffic.
func TestCompactBoundsRowsAndKeepsTotals(t *testing.T) {
	c := newClock()
	cfg := DefaultConfig()
	cfg.MaxRows = 4
	h := newHistory(t, cfg, c)
	var total uint64
	for i := range 10 {
		h.Observe(uint64(i+1), 1, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "k%02d", i+1), written(uint64(i+1)))
		total += uint64(i + 1)
	}
	c.advance(time.Minute)
	h.Usage() // closes the column
	h.mu.Lock()
	segs := h.closed[0].segs
	h.mu.Unlock()
	if len(segs) != 4 {
		t.Fatalf("closed column has %d segments, want 4", len(segs))
	}
	var sum uint64
	for i, s := range segs {
		sum += s.v[WrittenBytes]
		if i > 0 && s.start != segs[i-1].end {
			t.Fatalf("segments not adjacent: %+v", segs)
		}
	}
	if sum != total || segs[0].start != "k00" || segs[3].end != "k10" {
		t.Fatalf("compacted segments %+v: sum %d, want %d over [k00, k10)", segs, sum, total)
	}
}

// TestRetentionDropsOldColumns: columns older than the retention go, and a
// query cannot ask for more than the retention.
func TestRetentionDropsOldColumns(t *testing.T) {
	c := newClock()
	cfg := DefaultConfig()
	cfg.Retention = 10 * time.Minute
	h := newHistory(t, cfg, c)
	start := c.t
	for range 30 {
		h.Observe(1, 1, nil, nil, written(1))
		c.advance(time.Minute)
	}
	u := h.Usage()
	if u.Columns != 10 || !u.RetainedFrom.Equal(start.Add(20*time.Minute)) {
		t.Fatalf("usage %+v: want 10 columns from %v", u, start.Add(20*time.Minute))
	}
	if _, err := h.Query(Query{From: c.t.Add(-11 * time.Minute), To: c.t}); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("an 11-minute query over a 10-minute retention: %v, want ErrBadQuery", err)
	}
}

// TestMemoryBound: with keys long enough to pass MaxBytes, the oldest
// columns go first and the closed columns never account for more.
func TestMemoryBound(t *testing.T) {
	c := newClock()
	cfg := DefaultConfig()
	cfg.MaxBytes = 1 << 20
	h := newHistory(t, cfg, c)
	long := make([]byte, 4096)
	for col := range 40 {
		for i := range 20 {
			h.Observe(uint64(i+1), 1, fmt.Appendf(long[:4000:4000], "%04d", i), fmt.Appendf(long[:4000:4000], "%04d", i+1), written(1))
		}
		c.advance(time.Minute)
		if u := h.Usage(); u.ClosedBytes > cfg.MaxBytes {
			t.Fatalf("after column %d: closed columns account for %d bytes, bound %d", col, u.ClosedBytes, cfg.MaxBytes)
		}
	}
	u := h.Usage()
	if u.Columns == 0 || u.Columns >= 40 || !u.RetainedFrom.Equal(c.t.Add(-time.Duration(u.Columns)*time.Minute)) {
		t.Fatalf("usage %+v: want the newest columns only, up to now", u)
	}
}

// TestBadQueries: each parameter out of range is refused with ErrBadQuery.
func TestBadQueries(t *testing.T) {
	c := newClock()
	h := newHistory(t, DefaultConfig(), c)
	for _, q := range []Query{
		{Metric: numMetrics},
		{Rows: -1},
		{Rows: MaxQueryRows + 1},
		{StartKey: key("b"), EndKey: key("a")},
		{StartKey: key("a"), EndKey: key("a")},
		{From: c.t, To: c.t.Add(-time.Second)},
		{From: time.Unix(0, 0), To: c.t},
		{Last: -time.Minute},
		{Last: time.Minute, From: c.t.Add(-time.Minute)},
		{Last: 7 * time.Hour},
	} {
		if _, err := h.Query(q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("query %+v: %v, want ErrBadQuery", q, err)
		}
	}
	if _, err := ParseMetric("bytes"); !errors.Is(err, ErrBadQuery) {
		t.Errorf("ParseMetric(bytes): %v", err)
	}
	for _, cfg := range []Config{{}, {ColumnWidth: time.Minute, Retention: time.Second, MaxRows: 1, MaxBytes: 1},
		{ColumnWidth: time.Minute, Retention: time.Hour, MaxBytes: 1}} {
		if _, err := New(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v): %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// TestQueryMatchesNaive compares Query with a direct computation over
// random regions, key ranges and row counts: a row's value is the sum of
// the traffic of the segments that overlap it.
func TestQueryMatchesNaive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	randKey := func() string { return fmt.Sprintf("%03d", rng.IntN(200)) }
	for iter := range 200 {
		c := newClock()
		h := newHistory(t, DefaultConfig(), c)
		var segs []segment
		for range 1 + rng.IntN(30) {
			a, b := randKey(), randKey()
			if a > b {
				a, b = b, a
			}
			if rng.IntN(8) == 0 {
				b = ""
			}
			if a == b {
				continue
			}
			s := segment{start: a, end: b, v: written(uint64(1 + rng.IntN(100)))}
			segs = append(segs, s)
			h.Observe(uint64(len(segs)), 1, []byte(s.start), []byte(s.end), s.v)
		}
		q := Query{Metric: WrittenBytes, From: c.t, To: c.t, Rows: 1 + rng.IntN(12)}
		if rng.IntN(2) == 0 {
			a, b := randKey(), randKey()
			if a < b {
				q.StartKey, q.EndKey = []byte(a), []byte(b)
			}
		}
		m, err := h.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		rows := len(m.Keys) - 1
		if rows < 1 || rows > q.Rows || string(m.Keys[0]) != string(q.StartKey) || string(m.Keys[rows]) != string(q.EndKey) {
			t.Fatalf("iter %d: %d rows over keys %q for %+v", iter, rows, keys(m), q)
		}
		for r := range rows {
			lo, hi := string(m.Keys[r]), string(m.Keys[r+1])
			var want uint64
			for _, s := range segs {
				// [s.start, s.end) overlaps [lo, hi) (empty end: +inf).
				if (hi == "" || s.start < hi) && (s.end == "" || s.end > lo) {
					want += s.v[WrittenBytes]
				}
			}
			if got := m.Values[0][r]; got != want {
				t.Fatalf("iter %d: row %d [%q, %q) = %d, want %d (segments %+v)", iter, r, lo, hi, got, want, segs)
			}
		}
	}
}
