package raftstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

func key(i int) []byte { return []byte(fmt.Sprintf("k%04d", i)) }

func pointAt(i int) keyRange { return keyRange{start: key(i), point: true, valid: true} }

// skewed draws n point requests over keys [0, keys): a fraction hot of
// them on [hotLo, hotHi), the rest uniform.
func skewed(rng *rand.Rand, n, keys, hotLo, hotHi int, hot float64) []keyRange {
	out := make([]keyRange, n)
	for i := range out {
		if rng.Float64() < hot {
			out[i] = pointAt(hotLo + rng.IntN(hotHi-hotLo))
		} else {
			out[i] = pointAt(rng.IntN(keys))
		}
	}
	return out
}

func TestPickSplitKey(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, 0))
	whole := &metapb.Region{Id: 1}
	// 90% of the requests to 1% of the keys: the key that halves the load
	// lies inside the hot range, not in the middle of the key space.
	key0, st := pickSplitKey(skewed(rng, 256, 1000, 500, 510, 0.9), whole, 0.25, 0.5)
	if key0 == nil || bytes.Compare(key0, key(500)) <= 0 || bytes.Compare(key0, key(510)) >= 0 {
		t.Fatalf("seed %d: skewed load split at %q (%s), want inside (k0500, k0510)", seed, key0, st)
	}
	if st.balance > 0.25 || st.contained != 0 {
		t.Fatalf("seed %d: score %s", seed, st)
	}
	// Uniform load: about the middle.
	k, st := pickSplitKey(skewed(rng, 256, 1000, 0, 1, 0), whole, 0.25, 0.5)
	if k == nil || bytes.Compare(k, key(400)) < 0 || bytes.Compare(k, key(600)) > 0 {
		t.Fatalf("seed %d: uniform load split at %q (%s)", seed, k, st)
	}
	// One hot key cannot be divided.
	one := make([]keyRange, 100)
	for i := range one {
		one[i] = pointAt(42)
	}
	if k, st := pickSplitKey(one, whole, 0.25, 0.5); k != nil {
		t.Fatalf("one key split at %q (%s)", k, st)
	}
	// Two keys, unevenly loaded beyond the balance score: no split; evenly:
	// split between them.
	var two []keyRange
	for i := 0; i < 80; i++ {
		two = append(two, pointAt(1))
	}
	for i := 0; i < 20; i++ {
		two = append(two, pointAt(2))
	}
	if k, st := pickSplitKey(two, whole, 0.25, 0.5); k != nil {
		t.Fatalf("80/20 split at %q (%s)", k, st)
	}
	if k, _ := pickSplitKey(two[60:], whole, 0.25, 0.5); !bytes.Equal(k, key(2)) {
		t.Fatalf("20/20 split at %q, want k0002", k)
	}
	// Scans spanning every candidate key: each split would cut most
	// requests in two.
	var scans []keyRange
	for i := 0; i < 50; i++ {
		scans = append(scans, keyRange{start: key(i), end: key(1000 - i), valid: true})
	}
	if k, st := pickSplitKey(scans, whole, 0.25, 0.5); k != nil {
		t.Fatalf("spanning scans split at %q (%s)", k, st)
	}
	// A scan to the region's end (empty end) counts right of every key
	// at or before its start. Keys 11 and 15 divide these as well (2 | 3
	// and 3 | 2): the first wins.
	region := &metapb.Region{Id: 1, StartKey: key(10), EndKey: key(20)}
	mixed := []keyRange{pointAt(10), pointAt(10), pointAt(11), {start: key(15), valid: true}, {start: key(16), valid: true},
		{}, // a slot not filled: ignored
	}
	k, st = pickSplitKey(mixed, region, 0.25, 0.5)
	if !bytes.Equal(k, key(11)) || st.left != 2 || st.right != 3 || st.contained != 0 {
		t.Fatalf("split at %q (%s), want k0011 with 2 left, 3 right", k, st)
	}
}

// TestLoadSamplerReservoir: a cold region's requests are counted, not
// sampled; a sampling one keeps SampleNum requests drawn evenly from all
// it saw; emptying the reservoir leaves no stale samples.
func TestLoadSamplerReservoir(t *testing.T) {
	cfg := DefaultLoadSplitConfig()
	cfg.SampleNum = 200
	var s loadSampler
	const seed = 11
	s.init(&cfg, seed)
	for i := 0; i < 100; i++ {
		s.record(key(i), nil, true, 10)
	}
	if s.requests.Load() != 100 || s.bytes.Load() != 1000 || s.seen.Load() != 0 {
		t.Fatalf("cold: requests %d bytes %d seen %d", s.requests.Load(), s.bytes.Load(), s.seen.Load())
	}
	s.startSampling()
	// 10000 requests: the first half on key 1, the second on key 2. An
	// even reservoir holds about as many of each.
	for i := 0; i < 10000; i++ {
		s.record(key(1+i/5000), nil, true, 0)
	}
	got := s.takeSamples()
	if len(got) != cfg.SampleNum {
		t.Fatalf("seed %d: %d samples, want %d", seed, len(got), cfg.SampleNum)
	}
	first := 0
	for _, r := range got {
		if !r.valid || !r.point {
			t.Fatalf("seed %d: sample %+v", seed, r)
		}
		if bytes.Equal(r.start, key(1)) {
			first++
		}
	}
	if first < 70 || first > 130 {
		t.Fatalf("seed %d: %d of %d samples from the first half, want about half", seed, first, len(got))
	}
	if s.sampling.Load() {
		t.Fatal("still sampling after take")
	}
	s.record(key(3), nil, true, 0)
	s.startSampling()
	if got := s.takeSamples(); len(got) != 0 {
		t.Fatalf("stale samples: %+v", got)
	}
}

// BenchmarkLoadSampler measures what load-based split adds to each request
// on the hot path: counting alone (a cold region) and counting with
// reservoir sampling (a hot one), from parallel goroutines as the gRPC
// handlers call it.
func BenchmarkLoadSampler(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = key(i)
	}
	for _, sampling := range []bool{false, true} {
		name := "cold"
		if sampling {
			name = "sampling"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultLoadSplitConfig()
			var s loadSampler
			s.init(&cfg, 1)
			if sampling {
				s.startSampling()
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					s.record(keys[i&1023], nil, true, 100)
					i++
				}
			})
		})
	}
}
