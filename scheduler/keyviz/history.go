// Package keyviz keeps the key visualizer's history: how much each part of
// the key space was written and read, minute by minute, as region leaders
// report it in their heartbeats.
//
// The history is a row of columns, one per ColumnWidth (a minute by
// default) of wall-clock time, aligned on multiples of the width. The open
// column, the current one, gathers every heartbeat that arrives while it is
// current: one entry per region and epoch version, holding the region's key
// range and the bytes and keys its leader reported as written and read
// since its previous heartbeat. A heartbeat's traffic goes to the column in
// which it arrives. When the clock passes the column's end, the column is
// closed: its entries are sorted by key and, past MaxRows of them, adjacent
// entries are merged (their traffic summed, their ranges joined) so that a
// closed column never holds more than MaxRows segments whatever the number
// of regions.
//
// Memory. Closed columns are dropped once they are older than Retention (6
// hours by default) and, oldest first, whenever together they account for
// more than MaxBytes (64 MiB by default: long keys shorten the retention
// rather than grow the history). The open column holds one entry per
// region that heartbeats during it, as the cluster model does. The history
// lives in the memory of the scheduler member that receives the heartbeats
// — the leader — and is not persisted in etcd: a restarted or newly elected
// leader starts an empty picture. A key visualizer is a tool for looking at
// recent load, and writing a minute's picture of every region to etcd would
// cost the metadata store more than the picture is worth.
//
// Queries re-bucket the columns onto one key axis (see Query), so that a
// split or merge inside the window leaves the picture continuous: a key
// range keeps its row, and only the traffic moves.
package keyviz

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// ErrBadQuery is wrapped by every error that a query's parameters cause.
var ErrBadQuery = errors.New("keyviz: bad query")

// Metric is one of the traffic counters a heartbeat reports.
type Metric int

// The metrics, in the order of Stats' fields.
const (
	WrittenBytes Metric = iota
	ReadBytes
	WrittenKeys
	ReadKeys
	numMetrics
)

var metricNames = [numMetrics]string{"written-bytes", "read-bytes", "written-keys", "read-keys"}

func (m Metric) String() string {
	if m < 0 || m >= numMetrics {
		return fmt.Sprintf("metric(%d)", int(m))
	}
	return metricNames[m]
}

// Metrics lists every metric's name.
func Metrics() []string { return metricNames[:] }

// ParseMetric reads a metric's name.
func ParseMetric(s string) (Metric, error) {
	for i, n := range metricNames {
		if n == s {
			return Metric(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown metric %q (want one of %v)", ErrBadQuery, s, metricNames)
}

// Stats is one heartbeat's traffic, indexed by Metric.
type Stats [numMetrics]uint64

// NewStats builds Stats from a heartbeat's four counters.
func NewStats(writtenBytes, readBytes, writtenKeys, readKeys uint64) Stats {
	return Stats{WrittenBytes: writtenBytes, ReadBytes: readBytes, WrittenKeys: writtenKeys, ReadKeys: readKeys}
}

func (s *Stats) add(o Stats) {
	for i := range s {
		s[i] += o[i]
	}
}

// Config bounds the history.
type Config struct {
	// ColumnWidth is the time one column covers.
	ColumnWidth time.Duration
	// Retention is how long closed columns are kept; it is also the longest
	// time range a query may ask for.
	Retention time.Duration
	// MaxRows is the most segments a closed column keeps.
	MaxRows int
	// MaxBytes bounds the memory that closed columns account for.
	MaxBytes int64
}

// Defaults.
const (
	DefaultColumnWidth = time.Minute
	DefaultRetention   = 6 * time.Hour
	DefaultMaxRows     = 1024
	DefaultMaxBytes    = 64 << 20
	// DefaultQueryRows is the rows of a query that names none;
	// MaxQueryRows the most a query may ask for.
	DefaultQueryRows = 256
	MaxQueryRows     = 2048
)

// DefaultConfig keeps one column a minute for six hours, within 64 MiB.
func DefaultConfig() Config {
	return Config{ColumnWidth: DefaultColumnWidth, Retention: DefaultRetention, MaxRows: DefaultMaxRows, MaxBytes: DefaultMaxBytes}
}

// ErrInvalidConfig is wrapped by Config.Validate's errors.
var ErrInvalidConfig = errors.New("keyviz: invalid config")

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.ColumnWidth <= 0:
		return fmt.Errorf("%w: column width %s must be positive", ErrInvalidConfig, c.ColumnWidth)
	case c.Retention < c.ColumnWidth:
		return fmt.Errorf("%w: retention %s is shorter than a column (%s)", ErrInvalidConfig, c.Retention, c.ColumnWidth)
	case c.Retention/c.ColumnWidth > 100_000:
		return fmt.Errorf("%w: retention %s holds more than 100000 columns of %s", ErrInvalidConfig, c.Retention, c.ColumnWidth)
	case c.MaxRows < 1:
		return fmt.Errorf("%w: max rows %d must be positive", ErrInvalidConfig, c.MaxRows)
	case c.MaxBytes <= 0:
		return fmt.Errorf("%w: max bytes %d must be positive", ErrInvalidConfig, c.MaxBytes)
	}
	return nil
}

// segment is the traffic of a key range [start, end) during one column; an
// empty end is +infinity. Segments of one column may overlap: a region
// that split during the column reports its old range, then each half
// reports its own.
type segment struct {
	start, end string
	v          Stats
}

// segmentSize is what a segment accounts for, besides its keys' bytes.
const segmentSize = int64(unsafe.Sizeof(segment{}))

// columnSize is what a closed column accounts for, besides its segments.
const columnSize = int64(unsafe.Sizeof(column{}))

func (s *segment) size() int64 { return segmentSize + int64(len(s.start)+len(s.end)) }

// column is one closed column: segments sorted by start key, then end.
type column struct {
	start time.Time
	segs  []segment
	bytes int64
}

// openKey names an entry of the open column: a region at one epoch
// version (the version changes with every split and merge, and so does the
// range).
type openKey struct{ id, version uint64 }

// History is the key visualizer's history. It is safe for concurrent use.
type History struct {
	cfg Config
	now func() time.Time

	mu        sync.Mutex
	openStart time.Time
	open      map[openKey]*segment
	openBytes int64
	// closed holds the closed columns, oldest first; closedBytes is their
	// accounted size. Invariant: closedBytes <= cfg.MaxBytes after every
	// call returns, and no column is older than cfg.Retention.
	closed      []column
	closedBytes int64
}

// New returns an empty history reading the time from now (time.Now if nil).
func New(cfg Config, now func() time.Time) (*History, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &History{cfg: cfg, now: now, open: map[openKey]*segment{}}, nil
}

// Config is the history's configuration.
func (h *History) Config() Config { return h.cfg }

// Observe adds one region heartbeat: the region's ID, epoch version and key
// range (an empty end is +infinity), and the traffic it reports.
func (h *History) Observe(regionID, version uint64, start, end []byte, s Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rotateLocked(h.now())
	k := openKey{regionID, version}
	e := h.open[k]
	if e == nil {
		e = &segment{start: string(start), end: string(end)}
		h.open[k] = e
		h.openBytes += e.size()
	}
	e.v.add(s)
}

// rotateLocked closes the open column once now has left it, and drops
// what the bounds no longer allow.
func (h *History) rotateLocked(now time.Time) {
	cur := now.Truncate(h.cfg.ColumnWidth)
	if cur.After(h.openStart) {
		if len(h.open) > 0 {
			h.closeOpenLocked()
		}
		h.openStart = cur
	}
	oldest := now.Add(-h.cfg.Retention)
	drop := 0
	for drop < len(h.closed) && (!h.closed[drop].start.Add(h.cfg.ColumnWidth).After(oldest) || h.closedBytes > h.cfg.MaxBytes) {
		h.closedBytes -= h.closed[drop].bytes
		drop++
	}
	if drop > 0 {
		clear(h.closed[:drop])
		h.closed = h.closed[drop:]
	}
}

func (h *History) closeOpenLocked() {
	segs := make([]segment, 0, len(h.open))
	for _, e := range h.open {
		segs = append(segs, *e)
	}
	clear(h.open)
	h.openBytes = 0
	segs = compact(sortSegments(segs), h.cfg.MaxRows)
	c := column{start: h.openStart, segs: segs, bytes: columnSize}
	for i := range segs {
		c.bytes += segs[i].size()
	}
	h.closed = append(h.closed, c)
	h.closedBytes += c.bytes
}

// cmpEnd orders end keys, the empty one (+infinity) last.
func cmpEnd(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	return cmp.Compare(a, b)
}

func sortSegments(segs []segment) []segment {
	slices.SortFunc(segs, func(a, b segment) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmpEnd(a.end, b.end)
	})
	return segs
}

// compact merges runs of adjacent segments (sorted) so that at most max
// remain: each group spans from its first start to its furthest end and
// carries the sum of its members' traffic. Groups hold equal numbers of
// segments (give or take one), so the key axis keeps its resolution where
// the regions are dense.
func compact(segs []segment, maxRows int) []segment {
	n := len(segs)
	if n <= maxRows {
		return segs
	}
	out := make([]segment, 0, maxRows)
	for g := range maxRows {
		lo, hi := g*n/maxRows, (g+1)*n/maxRows
		m := segment{start: segs[lo].start, end: segs[lo].end}
		for _, s := range segs[lo:hi] {
			if cmpEnd(s.end, m.end) > 0 {
				m.end = s.end
			}
			m.v.add(s.v)
		}
		out = append(out, m)
	}
	return out
}

// Usage is what the history holds.
type Usage struct {
	// ClosedBytes is the closed columns' accounted size (at most
	// Config.MaxBytes); OpenBytes the open column's.
	ClosedBytes, OpenBytes int64
	// Columns is the number of closed columns; OpenEntries the open
	// column's entries.
	Columns, OpenEntries int
	// RetainedFrom is the start of the oldest column held (zero when none).
	RetainedFrom time.Time
}

// Usage reports the history's size.
func (h *History) Usage() Usage {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rotateLocked(h.now())
	return Usage{ClosedBytes: h.closedBytes, OpenBytes: h.openBytes, Columns: len(h.closed), OpenEntries: len(h.open),
		RetainedFrom: h.retainedFromLocked()}
}

// retainedFromLocked is the start of the oldest column held, zero if none.
func (h *History) retainedFromLocked() time.Time {
	switch {
	case len(h.closed) > 0:
		return h.closed[0].start
	case len(h.open) > 0:
		return h.openStart
	}
	return time.Time{}
}
