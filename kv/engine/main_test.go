package engine

import (
	"flag"
	"math/rand"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var seedFlag = flag.Int64("seed", 0, "seed for randomized tests (0: time-based)")

func TestMain(m *testing.M) {
	if runChildMode() {
		return
	}
	// Badger's goroutines all stop in DB.Close; a leak here means an engine,
	// snapshot or iterator was not closed. IgnoreCurrent ignores only what
	// runs before any test: glog's flush daemon, started by an init in a
	// dependency of badger.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// testRand returns a seeded source and logs the seed if the test fails, so
// that `go test -run Name -seed N` replays it.
func testRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed: %d (rerun with -seed %d)", seed, seed)
		}
	})
	return rand.New(rand.NewSource(seed))
}

// testOptions keeps engines light: 4 MiB memtables (batches up to ~600 KB).
func testOptions() Options {
	return Options{MemTableSize: 4 << 20, BlockCacheSize: 4 << 20}
}

func openTest(t testing.TB, opts Options) *Engines {
	t.Helper()
	e, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engines: %v", err)
		}
	})
	return e
}

func mustPut(t testing.TB, e *Engines, cf string, key, value []byte) {
	t.Helper()
	var wb WriteBatch
	if err := wb.PutCF(cf, key, value); err != nil {
		t.Fatal(err)
	}
	if err := wb.WriteToDB(e.KV, false); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t testing.TB, e *Engines, cf string, key []byte) []byte {
	t.Helper()
	v, err := GetCF(e.KV, cf, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// childEnv selects a child mode of the test binary; see runChildMode.
const childEnv = "REGIONKV_ENGINE_TEST_CHILD"
