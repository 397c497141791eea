package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	flagSeed     = flag.Int64("chaos.seed", 0, "replay one fault schedule (0: the default tier's fixed schedules, or new seeds from the clock with -chaos.long)")
	flagLong     = flag.Bool("chaos.long", false, "run the long tier: -chaos.seeds seeds of -chaos.duration each")
	flagSeeds    = flag.Int("chaos.seeds", 20, "seeds in the long tier")
	flagDuration = flag.Duration("chaos.duration", 0, "planned fault phase of every seed (default: the default tier's own, 40s with -chaos.seed, 60s with -chaos.long)")
)

// binPath is the regionkv binary built once for the package.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "regionkv-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "regionkv")
	build := exec.Command("go", "build", "-o", binPath, "../..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build regionkv:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
