package bench

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestOpMix draws operations for every built-in workload with a fixed seed
// and checks each kind's share against the configured proportion.
func TestOpMix(t *testing.T) {
	const draws = 100000
	for _, name := range WorkloadNames() {
		w, err := LookupWorkload(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newOpPicker(w.Mix)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(42, 1))
		got := map[Op]int{}
		for i := 0; i < draws; i++ {
			got[p.next(r)]++
		}
		for _, m := range w.Mix {
			share := float64(got[m.Op]) / draws
			if math.Abs(share-m.Weight) > 0.01 {
				t.Errorf("workload %s: %s share %.4f, want %.2f ± 0.01", name, m.Op, share, m.Weight)
			}
		}
		if len(got) != len(w.Mix) {
			t.Errorf("workload %s: drew kinds %v, want only %v", name, got, w.Mix)
		}
	}
	if _, err := newOpPicker([]Weighted{{OpRead, 0}}); err == nil {
		t.Error("an all-zero mix was accepted")
	}
}

func draw(t *testing.T, dist string, ks *keySpace, n int) []int {
	t.Helper()
	ch, err := newChooser(dist, ks, newZipfian(ks.records, ZipfianConstant), DefaultHotspot, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, ks.inserted.Load())
	for i := 0; i < n; i++ {
		counts[ch.next()]++
	}
	return counts
}

// TestZipfianSkew checks the raw zipfian ranks against the theoretical
// P(0) = 1/zeta(n), and that the scrambled keys are skewed (a few keys take
// most draws) but spread over the key space rather than clustered at its
// start.
func TestZipfianSkew(t *testing.T) {
	const n, draws = 1000, 200000
	z := newZipfian(n, ZipfianConstant)
	r := rand.New(rand.NewPCG(1, 2))
	ranks := make([]int, n)
	for i := 0; i < draws; i++ {
		ranks[z.next(r)]++
	}
	want0 := 1 / zeta(n, ZipfianConstant)
	if got := float64(ranks[0]) / draws; math.Abs(got-want0) > 0.01 {
		t.Errorf("P(rank 0) = %.4f, want %.4f", got, want0)
	}
	if !(ranks[0] > ranks[9] && ranks[9] > ranks[99] && ranks[99] > ranks[999]) {
		t.Errorf("ranks not decreasing: %d %d %d %d", ranks[0], ranks[9], ranks[99], ranks[999])
	}

	counts := draw(t, DistZipfian, newKeySpace("k", 16, n), draws)
	sorted := append([]int(nil), counts...)
	sortDesc(sorted)
	top := 0
	for _, c := range sorted[:n/10] {
		top += c
	}
	if share := float64(top) / draws; share < 0.5 {
		t.Errorf("the hottest 10%% of keys got %.2f of draws, want > 0.5 (zipfian skew)", share)
	}
	firstTenth := 0
	for _, c := range counts[:n/10] {
		firstTenth += c
	}
	if share := float64(firstTenth) / draws; share > 0.4 {
		t.Errorf("the first 10%% of the key space got %.2f of draws: hot keys are not scattered", share)
	}
}

func sortDesc(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] > a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestLatestFavoursRecent: the newest record is the most popular, and an
// insert moves the popularity to the new record.
func TestLatestFavoursRecent(t *testing.T) {
	const n, draws = 1000, 100000
	ks := newKeySpace("k", 16, n)
	counts := draw(t, DistLatest, ks, draws)
	recent := 0
	for _, c := range counts[n-n/10:] {
		recent += c
	}
	if share := float64(recent) / draws; share < 0.5 {
		t.Errorf("the newest 10%% got %.2f of draws, want > 0.5", share)
	}
	if counts[n-1] <= counts[n-100] || counts[n-1] <= counts[0] {
		t.Errorf("newest %d, 100th newest %d, oldest %d: want the newest most popular", counts[n-1], counts[n-100], counts[0])
	}
	for i := uint64(n); i < n+50; i++ {
		ks.insertDone(i)
	}
	counts = draw(t, DistLatest, ks, draws)
	if counts[n+49] <= counts[n-1] {
		t.Errorf("after 50 inserts the newest record got %d draws, the old newest %d", counts[n+49], counts[n-1])
	}
}

// TestUniformCoverage: every record is drawn, none far off the mean.
func TestUniformCoverage(t *testing.T) {
	const n, draws = 1000, 200000
	counts := draw(t, DistUniform, newKeySpace("k", 16, n), draws)
	for i, c := range counts {
		if c < 120 || c > 280 { // mean 200, sd ~14
			t.Fatalf("record %d drawn %d times, want about 200", i, c)
		}
	}
}

func TestKeys(t *testing.T) {
	ks := newKeySpace("u", 16, 100)
	a, b := ks.key(9), ks.key(10)
	if len(a) != 16 || string(a) != "u000000000000009" || string(b) <= string(a) {
		t.Errorf("keys %q %q: want 16 bytes in record order", a, b)
	}
	sk := SplitKeys("u", 16, 1000, 4)
	if len(sk) != 3 || string(sk[0]) != string(ks.key(250)) || string(sk[2]) != string(ks.key(750)) {
		t.Errorf("split keys %q", sk)
	}
}

// TestHistogramPercentiles records 1..10000 µs once each and checks the
// summary against the exact percentiles (HDR: 3 significant digits), and
// that errors are counted by kind and kept out of the latencies.
func TestHistogramPercentiles(t *testing.T) {
	rec := newRecorder()
	for us := 1; us <= 10000; us++ {
		rec.record(OpRead, time.Duration(us)*time.Microsecond, nil)
	}
	rec.record(OpRead, time.Second, errNotFound)
	rec.record(OpRead, time.Second, errNotFound)
	reps := summarize(rec.totals(), 10*time.Second)
	if len(reps) != 1 {
		t.Fatalf("got %d reports", len(reps))
	}
	r := reps[0]
	near := func(name string, got int64, want float64) {
		if math.Abs(float64(got)-want) > want*0.002+1 {
			t.Errorf("%s = %d, want %.0f", name, got, want)
		}
	}
	near("p50", r.P50Us, 5000)
	near("p95", r.P95Us, 9500)
	near("p99", r.P99Us, 9900)
	near("p99.9", r.P999Us, 9990)
	near("max", r.MaxUs, 10000)
	if math.Abs(r.AvgUs-5000.5) > 10 {
		t.Errorf("avg = %.1f, want 5000.5", r.AvgUs)
	}
	if r.Count != 10000 || r.OpsPerSec != 1000 {
		t.Errorf("count %d ops/s %.1f, want 10000 and 1000", r.Count, r.OpsPerSec)
	}
	if r.Errors != 2 || r.ErrorKind["not-found"] != 2 {
		t.Errorf("errors %d %v, want 2 not-found", r.Errors, r.ErrorKind)
	}
	// The interval resets, the total does not.
	if n := rec.takeInterval()[OpRead].hist.TotalCount(); n != 10000 {
		t.Errorf("interval count %d", n)
	}
	if n := len(rec.takeInterval()); n != 0 {
		t.Errorf("interval not reset: %d ops", n)
	}
}

// TestHotspotSkew: the hotspot distribution sends 90% of the draws to the
// middle 1% of the records, one contiguous range, and spreads the rest
// over the others.
func TestHotspotSkew(t *testing.T) {
	const n, draws = 10000, 200000
	counts := draw(t, DistHotspot, newKeySpace("k", 16, n), draws)
	lo, size := DefaultHotspot.hotRange(n)
	if lo != 4950 || size != 100 {
		t.Fatalf("hot range [%d, +%d), want [4950, +100)", lo, size)
	}
	hot, coldHit := 0, 0
	for i, c := range counts {
		if uint64(i) >= lo && uint64(i) < lo+size {
			hot += c
		} else if c > 0 {
			coldHit++
		}
	}
	if share := float64(hot) / draws; math.Abs(share-0.9) > 0.01 {
		t.Errorf("hot set share %.4f, want 0.90 ± 0.01", share)
	}
	// 20000 uniform draws over 9900 cold records reach 1-e^-2 (86%) of them.
	if coldHit < (n-int(size))*8/10 {
		t.Errorf("only %d of %d cold records drawn", coldHit, n-int(size))
	}
	ks := newKeySpace("k", 16, n)
	if _, err := newChooser(DistHotspot, ks, nil, Hotspot{Keys: 0, Ops: 0.9}, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("an empty hot set was accepted")
	}
}
