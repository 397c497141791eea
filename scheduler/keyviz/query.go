package keyviz

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Query asks for a heatmap of one metric over a time window and a key
// range.
type Query struct {
	Metric Metric
	// From and To bound the window; a zero To is now, a zero From is To
	// minus Last, or minus the retention when Last is zero. The window may
	// be no longer than the retention.
	From, To time.Time
	Last     time.Duration
	// StartKey and EndKey bound the key range; an empty EndKey is
	// +infinity.
	StartKey, EndKey []byte
	// Rows is the most rows the answer may have (0: DefaultQueryRows).
	Rows int
}

// Matrix is a heatmap: Values[c][r] is the metric's total in column c (the
// time [From + c*ColumnWidth, From + (c+1)*ColumnWidth)) over the key range
// [Keys[r], Keys[r+1]) — the sum of the traffic of every region (or merged
// group of regions) that overlaps that range. The last key is empty when
// the range runs to +infinity.
type Matrix struct {
	Metric      Metric
	ColumnWidth time.Duration
	From        time.Time
	Keys        [][]byte
	Values      [][]uint64
	// Open is the index of the column still filling, or -1 when the window
	// does not reach it.
	Open int
	// Max is the largest value.
	Max uint64
	// RetainedFrom is the start of the oldest column the history holds.
	RetainedFrom time.Time
}

// Query answers q. Every column of the window gets one key axis: the
// boundaries of every segment inside the window and the key range, thinned
// to at most q.Rows rows by keeping every k-th boundary (so that each row
// holds about the same number of region boundaries). Each column's segments
// then add their traffic to every row they overlap.
func (h *History) Query(q Query) (*Matrix, error) {
	if q.Metric < 0 || q.Metric >= numMetrics {
		return nil, fmt.Errorf("%w: unknown metric %d", ErrBadQuery, int(q.Metric))
	}
	if q.Rows == 0 {
		q.Rows = DefaultQueryRows
	}
	if q.Rows < 1 || q.Rows > MaxQueryRows {
		return nil, fmt.Errorf("%w: rows %d must be in [1, %d]", ErrBadQuery, q.Rows, MaxQueryRows)
	}
	if q.Last < 0 || (q.Last > 0 && !q.From.IsZero()) {
		return nil, fmt.Errorf("%w: give either a start time or a duration up to the end, not both", ErrBadQuery)
	}
	if len(q.EndKey) > 0 && bytes.Compare(q.StartKey, q.EndKey) >= 0 {
		return nil, fmt.Errorf("%w: start key %x is not before end key %x", ErrBadQuery, q.StartKey, q.EndKey)
	}

	m, cols, err := h.window(q)
	if err != nil {
		return nil, err
	}
	r := keyRange{start: string(q.StartKey), end: string(q.EndKey)}
	inner := thin(r.innerBoundaries(cols), q.Rows)
	m.Keys = make([][]byte, 0, len(inner)+2)
	m.Keys = append(m.Keys, q.StartKey)
	for _, k := range inner {
		m.Keys = append(m.Keys, []byte(k))
	}
	m.Keys = append(m.Keys, q.EndKey)
	rows := len(inner) + 1
	m.Values = make([][]uint64, len(cols))
	for c, segs := range cols {
		vals := make([]uint64, rows)
		for _, s := range segs {
			v := s.v[q.Metric]
			if v == 0 {
				continue
			}
			lo, hi, ok := r.rows(inner, s)
			if !ok {
				continue
			}
			for row := lo; row <= hi; row++ {
				vals[row] += v
				m.Max = max(m.Max, vals[row])
			}
		}
		m.Values[c] = vals
	}
	return m, nil
}

// window validates q's time range and returns the matrix's frame with the
// segments of each of its columns. Closed columns are never modified, so
// their segments are shared; the open column's are copied. The rest of the
// query runs without the lock, so heartbeats do not wait for it.
func (h *History) window(q Query) (*Matrix, [][]segment, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.rotateLocked(now)
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		last := q.Last
		if last == 0 {
			last = h.cfg.Retention
		}
		q.From = q.To.Add(-last)
	}
	if q.To.Before(q.From) {
		return nil, nil, fmt.Errorf("%w: time range ends (%s) before it starts (%s)", ErrBadQuery,
			q.To.UTC().Format(time.RFC3339), q.From.UTC().Format(time.RFC3339))
	}
	if d := q.To.Sub(q.From); d > h.cfg.Retention {
		return nil, nil, fmt.Errorf("%w: time range of %s is longer than the history keeps (%s)", ErrBadQuery, d, h.cfg.Retention)
	}

	w := h.cfg.ColumnWidth
	first := q.From.Truncate(w)
	n := int(q.To.Truncate(w).Sub(first)/w) + 1
	cols := make([][]segment, n)
	i := sort.Search(len(h.closed), func(i int) bool { return !h.closed[i].start.Before(first) })
	for ; i < len(h.closed); i++ {
		c := int(h.closed[i].start.Sub(first) / w)
		if c >= n {
			break
		}
		cols[c] = h.closed[i].segs
	}
	m := &Matrix{Metric: q.Metric, ColumnWidth: w, From: first, Open: -1}
	if c := int(h.openStart.Sub(first) / w); !h.openStart.Before(first) && c < n {
		m.Open = c
		open := make([]segment, 0, len(h.open))
		for _, e := range h.open {
			open = append(open, *e)
		}
		cols[c] = open
	}
	m.RetainedFrom = h.retainedFromLocked()
	return m, cols, nil
}

// keyRange is a query's key range; an empty end is +infinity.
type keyRange struct{ start, end string }

// inside reports whether k lies strictly inside the range (past its start).
func (r keyRange) inside(k string) bool {
	return k > r.start && (r.end == "" || k < r.end)
}

// innerBoundaries returns, sorted and without duplicates, every segment
// bound of cols that lies strictly inside r.
func (r keyRange) innerBoundaries(cols [][]segment) []string {
	set := map[string]struct{}{}
	for _, segs := range cols {
		for _, s := range segs {
			if r.inside(s.start) {
				set[s.start] = struct{}{}
			}
			if s.end != "" && r.inside(s.end) {
				set[s.end] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// thin keeps at most rows-1 of the sorted inner boundaries (so at most rows
// rows), grouping the rows they make into runs of equal length.
func thin(inner []string, rows int) []string {
	n := len(inner) + 1 // rows before thinning
	if n <= rows {
		return inner
	}
	out := make([]string, 0, rows-1)
	for j := 1; j < rows; j++ {
		out = append(out, inner[j*n/rows-1])
	}
	return out
}

// rows returns the first and last row that segment s overlaps, given the
// inner boundaries of the axis; false if s lies outside the range.
func (r keyRange) rows(inner []string, s segment) (lo, hi int, ok bool) {
	start, end := max(s.start, r.start), s.end
	if r.end != "" && (end == "" || end > r.end) {
		end = r.end
	}
	if end != "" && end <= start {
		return 0, 0, false
	}
	// Row i is [b_i, b_{i+1}) with b_0 = r.start and b_i = inner[i-1].
	lo = sort.Search(len(inner), func(i int) bool { return inner[i] > start })
	if end == "" {
		return lo, len(inner), true
	}
	hi = sort.Search(len(inner), func(i int) bool { return inner[i] >= end })
	return lo, hi, true
}
