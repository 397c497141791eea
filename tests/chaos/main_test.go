package chaos

import (
	"flag"
	"os"
	"testing"

	"github.com/regionkv/regionkv/tests/testproc"
)

var (
	flagSeed     = flag.Int64("chaos.seed", 0, "replay one fault schedule (0: the default tier's fixed schedules, or new seeds from the clock with -chaos.long)")
	flagLong     = flag.Bool("chaos.long", false, "run the long tier: -chaos.seeds seeds of -chaos.duration each")
	flagSeeds    = flag.Int("chaos.seeds", 20, "seeds in the long tier")
	flagDuration = flag.Duration("chaos.duration", 0, "planned fault phase of every seed (default: the default tier's own, 40s with -chaos.seed, 60s with -chaos.long)")
	flagClassic  = flag.Bool("chaos.classic", false, "draw faults from the original seven kinds only (replays the default tier's first two schedules)")
	flagTLS      = flag.Bool("chaos.tls", false, "mutual TLS on every connection, with a CA made for the run (replays the default tier's TLS schedule)")
	flagMaxKeys  = flag.Uint64("chaos.region-max-keys", 0, "stores split a region past this many keys, into pieces of two thirds of it, so that splits race the faults (0: the stores' default, which a seed never reaches)")
)

// binPath is the regionkv binary built once for the package.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testproc.Main(m, "../..", &binPath))
}
