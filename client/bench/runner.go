package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one phase's settings.
type Config struct {
	Workload     Workload
	Distribution string  // overrides the workload's when set
	Hotspot      Hotspot // the hotspot distribution's skew (zero: DefaultHotspot)
	Records      uint64  // records loaded, [0, Records)
	Operations   int64   // run phase: stop after this many (0: only Duration bounds it)
	Duration     time.Duration
	Threads      int
	KeySize      int
	KeyPrefix    string
	ValueSize    int
	BatchSize    int    // keys per batch-put/batch-get, and per load request
	ScanLength   int    // most keys per scan
	ScanLenDist  string // "uniform" in [1, ScanLength] (YCSB) or "constant"
	OpTimeout    time.Duration
	Seed         uint64
	Progress     io.Writer // once-a-second lines; nil for none
}

func (c *Config) check() error {
	switch {
	case c.Threads < 1:
		return fmt.Errorf("bench: threads must be at least 1")
	case c.Records < 1:
		return fmt.Errorf("bench: record count must be at least 1")
	case c.ValueSize < 1:
		return fmt.Errorf("bench: value size must be at least 1")
	case c.BatchSize < 1:
		return fmt.Errorf("bench: batch size must be at least 1")
	case c.ScanLength < 1:
		return fmt.Errorf("bench: scan length must be at least 1")
	case c.Duration <= 0:
		return fmt.Errorf("bench: a duration bound is required")
	case c.ScanLenDist != "uniform" && c.ScanLenDist != "constant":
		return fmt.Errorf("bench: scan length distribution must be uniform or constant")
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 10 * time.Second
	}
	return nil
}

func (c *Config) dist() string {
	if c.Distribution != "" {
		return c.Distribution
	}
	if c.Workload.Distribution != "" {
		return c.Workload.Distribution
	}
	return DistUniform
}

// Result is one phase's report.
type Result struct {
	Phase      string        `json:"phase"`
	Target     string        `json:"target"`
	Workload   string        `json:"workload"`
	Dist       string        `json:"distribution"`
	Threads    int           `json:"threads"`
	Records    uint64        `json:"records"`
	KeySize    int           `json:"key-size"`
	ValueSize  int           `json:"value-size"`
	Regions    int           `json:"regions,omitempty"`
	ElapsedSec float64       `json:"elapsed-sec"`
	Ops        []OpReport    `json:"ops"`
	Total      OpReport      `json:"total"`
	elapsed    time.Duration // for summaries
}

// worker is one client thread's state.
type worker struct {
	cfg    *Config
	t      Target
	ks     *keySpace
	ch     *chooser
	picker *opPicker
	r      *rand.Rand
	rec    *recorder
	value  []byte
}

func newWorkers(cfg *Config, t Target, ks *keySpace) ([]*worker, error) {
	picker, err := newOpPicker(cfg.Workload.Mix)
	if err != nil {
		return nil, err
	}
	z := newZipfian(cfg.Records, ZipfianConstant)
	var ws []*worker
	for i := 0; i < cfg.Threads; i++ {
		r := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
		hs := cfg.Hotspot
		if hs == (Hotspot{}) {
			hs = DefaultHotspot
		}
		ch, err := newChooser(cfg.dist(), ks, z, hs, r)
		if err != nil {
			return nil, err
		}
		w := &worker{cfg: cfg, t: t, ks: ks, ch: ch, picker: picker, r: r, rec: newRecorder(), value: make([]byte, cfg.ValueSize)}
		ws = append(ws, w)
	}
	return ws, nil
}

// fillValue writes fresh printable bytes, so values are not all alike.
func (w *worker) fillValue() []byte {
	for i := range w.value {
		w.value[i] = 'a' + byte(w.r.IntN(26))
	}
	return w.value
}

func (w *worker) scanLen() int {
	if w.cfg.ScanLenDist == "constant" {
		return w.cfg.ScanLength
	}
	return 1 + w.r.IntN(w.cfg.ScanLength)
}

// do runs one operation of kind op and records it.
func (w *worker) do(phase context.Context, op Op) {
	ctx, cancel := context.WithTimeout(phase, w.cfg.OpTimeout)
	defer cancel()
	start := time.Now()
	var err error
	switch op {
	case OpRead, OpGet:
		err = w.read(ctx, w.ks.key(w.ch.next()))
	case OpUpdate, OpPut:
		err = w.t.Put(ctx, w.ks.key(w.ch.next()), w.fillValue())
	case OpInsert:
		i := w.ks.next.Add(1) - 1
		if err = w.t.Put(ctx, w.ks.key(i), w.fillValue()); err == nil {
			w.ks.insertDone(i)
		}
	case OpScan:
		// The end key bounds the range to the records the scan can reach:
		// etcd counts every key of a range even under a limit, so an open
		// end would cost it O(records) per scan.
		i, n := w.ch.next(), w.scanLen()
		_, err = w.t.Scan(ctx, w.ks.key(i), w.ks.key(i+uint64(n)), n)
	case OpRMW:
		k := w.ks.key(w.ch.next())
		if err = w.read(ctx, k); err == nil {
			err = w.t.Put(ctx, k, w.fillValue())
		}
	case OpBatchPut:
		keys, values := make([][]byte, w.cfg.BatchSize), make([][]byte, w.cfg.BatchSize)
		for i := range keys {
			keys[i], values[i] = w.ks.key(w.ch.next()), append([]byte(nil), w.fillValue()...)
		}
		err = w.t.BatchPut(ctx, keys, values)
	case OpBatchGet:
		keys := make([][]byte, w.cfg.BatchSize)
		for i := range keys {
			keys[i] = w.ks.key(w.ch.next())
		}
		_, err = w.t.BatchGet(ctx, keys)
	default:
		err = fmt.Errorf("bench: unknown op %q", op)
	}
	if err != nil && phase.Err() != nil {
		return // cut short by the caller (interrupted), not a failure
	}
	w.rec.record(op, time.Since(start), err)
}

func (w *worker) read(ctx context.Context, key []byte) error {
	v, err := w.t.Get(ctx, key)
	if err == nil && v == nil {
		return fmt.Errorf("%w: %q", errNotFound, key)
	}
	return err
}

// Run runs the workload's run phase: Threads workers issue operations until
// Operations are done or Duration has passed, whichever comes first.
func Run(ctx context.Context, t Target, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ks := newKeySpace(cfg.KeyPrefix, cfg.KeySize, cfg.Records)
	ws, err := newWorkers(&cfg, t, ks)
	if err != nil {
		return nil, err
	}
	// Operations run under the caller's ctx, not the duration's: one in
	// flight when the duration ends completes and counts, rather than
	// being cut short and reported as a timeout it never had.
	opCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var issued atomic.Int64
	start := time.Now()
	stopProgress := startProgress(ctx, cfg.Progress, "run", ws, start, nil)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if cfg.Operations > 0 && issued.Add(1) > cfg.Operations {
					return
				}
				w.do(opCtx, w.picker.next(w.r))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return result("run", &cfg, ws, elapsed), nil
}

// Load writes records [0, Records) with batch puts of BatchSize keys, split
// among the workers, each worker a contiguous share. It stops at Duration.
func Load(ctx context.Context, t Target, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.Workload = Workload{Name: "load", Mix: []Weighted{{OpBatchPut, 1}}}
	ks := newKeySpace(cfg.KeyPrefix, cfg.KeySize, cfg.Records)
	ws, err := newWorkers(&cfg, t, ks)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var done atomic.Uint64
	start := time.Now()
	stopProgress := startProgress(ctx, cfg.Progress, "load", ws, start, func() string {
		return bar(done.Load(), cfg.Records)
	})
	n := uint64(len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		lo, hi := cfg.Records*uint64(i)/n, cfg.Records*uint64(i+1)/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := lo; b < hi && ctx.Err() == nil; b += uint64(cfg.BatchSize) {
				e := min(b+uint64(cfg.BatchSize), hi)
				keys, values := make([][]byte, 0, e-b), make([][]byte, 0, e-b)
				for k := b; k < e; k++ {
					keys, values = append(keys, ks.key(k)), append(values, append([]byte(nil), w.fillValue()...))
				}
				octx, ocancel := context.WithTimeout(ctx, cfg.OpTimeout)
				t0 := time.Now()
				err := t.BatchPut(octx, keys, values)
				ocancel()
				if err != nil && ctx.Err() != nil {
					return
				}
				w.rec.record(OpBatchPut, time.Since(t0), err)
				if err == nil {
					done.Add(e - b)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := result("load", &cfg, ws, elapsed)
	if got := done.Load(); got < cfg.Records {
		return res, fmt.Errorf("bench: loaded %d of %d records (timeout or errors)", got, cfg.Records)
	}
	return res, nil
}

func result(phase string, cfg *Config, ws []*worker, elapsed time.Duration) *Result {
	var ms []map[Op]*opStats
	for _, w := range ws {
		ms = append(ms, w.rec.totals())
	}
	merged := mergeAll(ms)
	all := newOpStats()
	for _, s := range merged {
		all.merge(s)
	}
	total := summarize(map[Op]*opStats{"total": all}, elapsed)[0]
	return &Result{Phase: phase, Workload: cfg.Workload.Name, Dist: cfg.dist(), Threads: cfg.Threads, Records: cfg.Records,
		KeySize: cfg.KeySize, ValueSize: cfg.ValueSize, ElapsedSec: elapsed.Seconds(),
		Ops: summarize(merged, elapsed), Total: total, elapsed: elapsed}
}

// startProgress prints, once a second, the last second's ops/s, p99 and
// errors (and extra(), e.g. a progress bar). The returned func stops it.
func startProgress(ctx context.Context, out io.Writer, phase string, ws []*worker, start time.Time, extra func() string) func() {
	if out == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				var ms []map[Op]*opStats
				for _, w := range ws {
					ms = append(ms, w.rec.takeInterval())
				}
				all := newOpStats()
				for _, s := range mergeAll(ms) {
					all.merge(s)
				}
				line := fmt.Sprintf("[%s %4.0fs] %9.0f ops/s  p99 %8s  errors %d", phase, now.Sub(start).Seconds(),
					float64(all.hist.TotalCount())/now.Sub(last).Seconds(), fmtUs(all.hist.ValueAtQuantile(99)), all.errCount())
				if extra != nil {
					line += "  " + extra()
				}
				fmt.Fprintln(out, line)
				last = now
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// bar draws a 30-column progress bar of done out of total.
func bar(done, total uint64) string {
	const width = 30
	if total == 0 {
		total = 1
	}
	filled := int(done * width / total)
	return fmt.Sprintf("[%s%s] %5.1f%% %d/%d", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		100*float64(done)/float64(total), done, total)
}

func fmtUs(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dµs", us)
	}
}
