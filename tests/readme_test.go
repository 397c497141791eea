package tests

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/common/cli"
)

// tourMarker precedes every README code block the tour test runs.
const tourMarker = "<!-- tour -->"

// tourLine is one command of the README's tour.
type tourLine struct {
	lineNo     int
	text       string   // as written
	args       []string // after the program
	background bool     // ends with &
	prints     string   // "# ... prints: X": stdout, whitespace collapsed
	exit       int      // "# ... exit N ...": the expected status
}

var (
	printsComment = regexp.MustCompile(`prints: (.*)$`)
	exitComment   = regexp.MustCompile(`\bexit (\d)\b`)
)

// readTour parses the README's marked blocks. A line is a regionkv
// command (`./regionkv ...` or `go run . ...`), the build command, or
// blank; a comment after " #" may say what it prints or how it exits.
func readTour(t *testing.T, path string) [][]tourLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]tourLine
	var cur []tourLine
	marked, inBlock := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == tourMarker:
			marked = true
			continue
		case marked && !inBlock:
			if !strings.HasPrefix(line, "```sh") {
				t.Fatalf("%s:%d: %s must be followed by a ```sh block", path, n, tourMarker)
			}
			inBlock, cur = true, nil
			continue
		case inBlock && strings.HasPrefix(line, "```"):
			blocks = append(blocks, cur)
			marked, inBlock = false, false
			continue
		case !inBlock:
			continue
		}
		cmd, comment, _ := strings.Cut(line, " #")
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || cmd == "go build -o regionkv ." { // the test builds the binary itself
			continue
		}
		tl := tourLine{lineNo: n, text: line}
		if m := printsComment.FindStringSubmatch(comment); m != nil {
			tl.prints = strings.TrimSpace(m[1])
		}
		if m := exitComment.FindStringSubmatch(comment); m != nil {
			tl.exit, _ = strconv.Atoi(m[1])
		}
		if c, ok := strings.CutSuffix(cmd, "&"); ok {
			cmd, tl.background = strings.TrimSpace(c), true
		}
		if strings.ContainsAny(cmd, `"'$|;<>()*`+"`") {
			t.Fatalf("%s:%d: %q: tour commands are plain words (no quoting or shell syntax)", path, n, cmd)
		}
		words := strings.Fields(cmd)
		switch {
		case len(words) > 1 && words[0] == "./regionkv":
			tl.args = words[1:]
		case len(words) > 3 && words[0] == "go" && words[1] == "run" && words[2] == ".":
			tl.args = words[3:]
		default:
			t.Fatalf("%s:%d: %q is not a regionkv command", path, n, cmd)
		}
		cur = append(cur, tl)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if inBlock {
		t.Fatalf("%s: a tour block is not closed", path)
	}
	return blocks
}

// TestReadmeTour runs every command of the README's marked blocks, in
// order, against a playground on free ports, as a reader would: the
// scheduler's address comes from REGIONKV_SCHEDULER, the fourth store gets
// a free port and a temporary directory. Every command must exit as its
// comment says (0 unless "exit N"), and print what a "prints:" comment
// says. Before the tour, the test waits, as the README says a reader sees,
// until region 2 has a replica on each store.
func TestReadmeTour(t *testing.T) {
	blocks := readTour(t, filepath.Join("..", "README.md"))
	total := 0
	for _, b := range blocks {
		total += len(b)
	}
	if len(blocks) < 5 || total < 25 {
		t.Fatalf("README has %d tour blocks with %d commands; the tour is larger", len(blocks), total)
	}

	_, sched, _ := startPlayground(t, "--data-dir", t.TempDir())
	t.Setenv(cli.SchedulerEnv, sched)
	var regions ctlRegions
	eventually(t, 60*time.Second, "region 2 with a leader and three replicas", func() bool {
		return ctlJSON(t, sched, &regions, "region", "list") && regions.Count == 1 && regions.Regions[0].ID == 2 &&
			regions.replicated(0, 3)
	})
	subst := strings.NewReplacer("127.0.0.1:2379", sched, "127.0.0.1:20170", "127.0.0.1:0",
		"/tmp/regionkv-store-4", filepath.Join(t.TempDir(), "store-4"))

	for _, block := range blocks {
		for _, tl := range block {
			args := make([]string, len(tl.args))
			for i, a := range tl.args {
				args[i] = subst.Replace(a)
			}
			if tl.background {
				p := startProc(t, args...)
				p.Addr(t) // serving
				continue
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				out, errOut, code := runCLI(t, args...)
				got := strings.Join(strings.Fields(out), " ")
				ok := code == tl.exit && (tl.prints == "" || got == tl.prints)
				if ok {
					break
				}
				// A read may see the cluster a moment late; retry what
				// promises an output, fail the rest at once.
				if tl.prints == "" || code != tl.exit || time.Now().After(deadline) {
					t.Fatalf("README.md:%d: %s\nexit %d (want %d)\nstdout:\n%s\nstderr:\n%s\n%s", tl.lineNo, tl.text, code, tl.exit,
						out, errOut, wantPrints(tl))
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}

func wantPrints(tl tourLine) string {
	if tl.prints == "" {
		return ""
	}
	return fmt.Sprintf("want it to print %q", tl.prints)
}
