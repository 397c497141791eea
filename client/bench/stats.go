package bench

import (
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 60 s, with three
// significant digits.
const (
	histMin     = 1
	histMax     = int64(60 * time.Second / time.Microsecond)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// opStats is what one worker saw of one Op.
type opStats struct {
	hist    *hdrhistogram.Histogram
	errors  map[string]int64
	samples map[string]string // the first error message of each kind
}

func newOpStats() *opStats {
	return &opStats{hist: newHist(), errors: map[string]int64{}, samples: map[string]string{}}
}

func (s *opStats) merge(o *opStats) {
	s.hist.Merge(o.hist)
	for k, v := range o.errors {
		s.errors[k] += v
	}
	for k, v := range o.samples {
		if _, ok := s.samples[k]; !ok {
			s.samples[k] = v
		}
	}
}

func (s *opStats) errCount() int64 {
	var n int64
	for _, v := range s.errors {
		n += v
	}
	return n
}

// recorder is one worker's statistics: a total and the current interval.
// The worker records under mu, which only the once-a-second progress
// reader also takes, so it is almost never contended.
type recorder struct {
	mu       sync.Mutex
	total    map[Op]*opStats
	interval map[Op]*opStats
}

func newRecorder() *recorder {
	return &recorder{total: map[Op]*opStats{}, interval: map[Op]*opStats{}}
}

func statsFor(m map[Op]*opStats, op Op) *opStats {
	s := m[op]
	if s == nil {
		s = newOpStats()
		m[op] = s
	}
	return s
}

// record notes one operation's latency, or its error. Failed operations are
// counted by kind and kept out of the latency histogram.
func (r *recorder) record(op Op, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []map[Op]*opStats{r.total, r.interval} {
		s := statsFor(m, op)
		if err != nil {
			kind := errorKind(err)
			if s.errors[kind]++; s.errors[kind] == 1 {
				s.samples[kind] = err.Error()
			}
			continue
		}
		us := d.Microseconds()
		if us < histMin {
			us = histMin
		}
		if us > histMax {
			us = histMax
		}
		_ = s.hist.RecordValue(us)
	}
}

// takeInterval returns the interval's statistics and starts a new interval.
func (r *recorder) takeInterval() map[Op]*opStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.interval
	r.interval = map[Op]*opStats{}
	return m
}

func (r *recorder) totals() map[Op]*opStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[Op]*opStats{}
	for op, s := range r.total {
		statsFor(out, op).merge(s)
	}
	return out
}

// mergeAll merges per-worker maps into one.
func mergeAll(ms []map[Op]*opStats) map[Op]*opStats {
	out := map[Op]*opStats{}
	for _, m := range ms {
		for op, s := range m {
			statsFor(out, op).merge(s)
		}
	}
	return out
}

// OpReport is the summary of one Op in a phase. Latencies are in
// microseconds.
type OpReport struct {
	Op        Op               `json:"op"`
	Count     int64            `json:"count"`
	OpsPerSec float64          `json:"ops-per-sec"`
	AvgUs     float64          `json:"avg-us"`
	P50Us     int64            `json:"p50-us"`
	P95Us     int64            `json:"p95-us"`
	P99Us     int64            `json:"p99-us"`
	P999Us    int64            `json:"p999-us"`
	MaxUs     int64            `json:"max-us"`
	Errors    int64            `json:"errors"`
	ErrorKind map[string]int64 `json:"errors-by-kind,omitempty"`
	// ErrorSample is the first message seen of each error kind.
	ErrorSample map[string]string `json:"error-samples,omitempty"`
}

// summarize turns merged statistics of a phase that lasted elapsed into
// reports, sorted by Op. Count is the successful operations.
func summarize(m map[Op]*opStats, elapsed time.Duration) []OpReport {
	var out []OpReport
	for op, s := range m {
		r := OpReport{Op: op, Count: s.hist.TotalCount(), Errors: s.errCount()}
		if elapsed > 0 {
			r.OpsPerSec = float64(r.Count) / elapsed.Seconds()
		}
		if r.Count > 0 {
			r.AvgUs = s.hist.Mean()
			r.P50Us = s.hist.ValueAtQuantile(50)
			r.P95Us = s.hist.ValueAtQuantile(95)
			r.P99Us = s.hist.ValueAtQuantile(99)
			r.P999Us = s.hist.ValueAtQuantile(99.9)
			r.MaxUs = s.hist.Max()
		}
		if len(s.errors) > 0 {
			r.ErrorKind, r.ErrorSample = s.errors, s.samples
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}
