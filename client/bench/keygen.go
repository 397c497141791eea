package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// Distribution names accepted by --distribution.
const (
	DistUniform = "uniform"
	DistZipfian = "zipfian"
	DistLatest  = "latest"
	DistHotspot = "hotspot"
)

// Hotspot is the skew of the hotspot distribution: a fraction Ops of the
// draws go to the hot set, a fraction Keys of the records in the middle of
// the key space (one contiguous range, so a few regions hold it); the rest
// are uniform over the other records. YCSB's hotspot distribution, with
// the hot set placed mid-range.
type Hotspot struct {
	Keys, Ops float64
}

// DefaultHotspot sends 90% of the requests to 1% of the keys.
var DefaultHotspot = Hotspot{Keys: 0.01, Ops: 0.9}

func (h Hotspot) check() error {
	if !(h.Keys > 0 && h.Keys <= 1) || !(h.Ops >= 0 && h.Ops <= 1) {
		return fmt.Errorf("bench: hotspot fractions must be in (0, 1] (keys) and [0, 1] (operations), got %v and %v", h.Keys, h.Ops)
	}
	return nil
}

// hotRange is the hot set of n records: [lo, lo+size), at least one.
func (h Hotspot) hotRange(n uint64) (lo, size uint64) {
	size = max(uint64(float64(n)*h.Keys), 1)
	size = min(size, n)
	return (n - size) / 2, size
}

// ZipfianConstant is YCSB's default skew (theta).
const ZipfianConstant = 0.99

// zipfian draws item numbers in [0, n) with P(i) proportional to
// 1/(i+1)^theta, by the method of Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD 1994), as YCSB does. The
// constants depend only on n and theta, so one zipfian is shared read-only by
// every worker; each worker brings its own random source.
type zipfian struct {
	n                        uint64
	theta, alpha, zetan, eta float64
	half                     float64 // 1 + 0.5^theta
}

func newZipfian(n uint64, theta float64) *zipfian {
	if n == 0 {
		n = 1
	}
	z := &zipfian{n: n, theta: theta}
	z.zetan = zeta(n, theta)
	zeta2 := zeta(2, theta)
	z.alpha = 1 / (1 - theta)
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetan)
	z.half = 1 + math.Pow(0.5, theta)
	return z
}

// zeta is sum_{i=1..n} 1/i^theta. It is O(n), paid once per run.
func zeta(n uint64, theta float64) float64 {
	var s float64
	for i := uint64(1); i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

// next returns an item in [0, n); 0 is the most popular.
func (z *zipfian) next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if v >= z.n {
		v = z.n - 1
	}
	return v
}

// fnv64 scatters zipfian ranks over the key space (YCSB's scrambled
// zipfian), so that hot keys do not all sit at the start of the key space,
// in one region.
func fnv64(v uint64) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= 0x100000001b3
		v >>= 8
	}
	return h
}

// keySpace is the set of records: the loaded ones, [0, recordCount), and
// those inserted since, [recordCount, inserted). It is shared by workers.
type keySpace struct {
	prefix   string
	keySize  int
	records  uint64
	next     atomic.Uint64 // the next record number an insert takes
	inserted atomic.Uint64 // records known to exist (loaded + inserts done)
}

func newKeySpace(prefix string, keySize int, records uint64) *keySpace {
	ks := &keySpace{prefix: prefix, keySize: keySize, records: records}
	ks.next.Store(records)
	ks.inserted.Store(records)
	return ks
}

// key formats record i as prefix + zero-padded decimal, keySize bytes long
// (longer if the prefix and the number do not fit), so that key order is
// record order and a scan walks consecutive records.
func (ks *keySpace) key(i uint64) []byte {
	width := ks.keySize - len(ks.prefix)
	if width < 1 {
		width = 1
	}
	return fmt.Appendf(make([]byte, 0, ks.keySize), "%s%0*d", ks.prefix, width, i)
}

// insertDone marks record i as written. Inserts finish out of order; the
// count only grows, so "latest" may briefly miss a record that exists, never
// pick one that may not.
func (ks *keySpace) insertDone(i uint64) {
	for {
		cur := ks.inserted.Load()
		if i+1 <= cur || ks.inserted.CompareAndSwap(cur, i+1) {
			return
		}
	}
}

// chooser picks existing record numbers by a distribution. Each worker has
// its own; they share the keySpace and the zipfian constants.
type chooser struct {
	dist string
	ks   *keySpace
	z    *zipfian
	hs   Hotspot
	r    *rand.Rand
}

func newChooser(dist string, ks *keySpace, z *zipfian, hs Hotspot, r *rand.Rand) (*chooser, error) {
	switch dist {
	case DistUniform, DistZipfian, DistLatest:
	case DistHotspot:
		if err := hs.check(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bench: unknown distribution %q (uniform, zipfian, latest, hotspot)", dist)
	}
	return &chooser{dist: dist, ks: ks, z: z, hs: hs, r: r}, nil
}

// next returns a record number that exists.
func (c *chooser) next() uint64 {
	n := c.ks.inserted.Load()
	if n == 0 {
		return 0
	}
	switch c.dist {
	case DistZipfian:
		// Ranks are drawn over the loaded records; inserted ones are reached
		// by the scatter hash modulo the current count.
		return fnv64(c.z.next(c.r)) % n
	case DistLatest:
		// The newest record is the most popular: rank 0 is n-1.
		rank := c.z.next(c.r)
		if rank >= n {
			rank = n - 1
		}
		return n - 1 - rank
	case DistHotspot:
		// The hot set is drawn from the loaded records; inserted ones are
		// cold.
		lo, size := c.hs.hotRange(min(n, c.ks.records))
		if c.r.Float64() < c.hs.Ops || size == n {
			return lo + c.r.Uint64N(size)
		}
		i := c.r.Uint64N(n - size)
		if i >= lo {
			i += size
		}
		return i
	default:
		return c.r.Uint64N(n)
	}
}
