package engine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a second process: with childEnv set, TestMain
// runs one of these modes instead of the tests.
//
//	lock:<dir>            try to Open dir; exit 0 if opened, 3 if locked
//	writer:<mode>:<dir>   write synced batches forever, printing "ACK i" after
//	                      each; mode "syncwrites" opens the kv DB with
//	                      SyncKVWrites, "barrier" without it (WriteToDB syncs)
func runChildMode() bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "lock":
		e, err := Open(arg, testOptions())
		switch {
		case err == nil:
			fmt.Println("OPENED")
			_ = e.Close()
			os.Exit(0)
		case errors.Is(err, ErrDataDirLocked):
			fmt.Println("LOCKED", err)
			os.Exit(3)
		default:
			fmt.Println("ERROR", err)
			os.Exit(4)
		}
	case "writer":
		mode, dir, _ := strings.Cut(arg, ":")
		opts := testOptions()
		opts.SyncKVWrites = mode == "syncwrites"
		e, err := Open(dir, opts)
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(4)
		}
		var wb WriteBatch
		for i := 0; ; i++ {
			wb.Reset()
			for j := range 4 {
				_ = wb.PutCF(CFDefault, childKey(i, j), []byte(strconv.Itoa(i)))
			}
			if err := wb.WriteToDB(e.KV, true); err != nil {
				fmt.Println("ERROR", err)
				os.Exit(4)
			}
			fmt.Printf("ACK %d\n", i)
		}
	}
	fmt.Println("ERROR unknown child mode", spec)
	os.Exit(5)
	return true
}

func childKey(i, j int) []byte { return fmt.Appendf(nil, "batch-%08d-%d", i, j) }

func childCommand(t *testing.T, spec string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	return cmd
}

func TestLockHeldAgainstAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	out, err := childCommand(t, "lock:"+dir).CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Fatalf("child on a locked dir: err=%v output=%q, want exit 3 (locked)", err, out)
	}
	if !strings.Contains(string(out), dir) || !strings.Contains(string(out), "in use by another process") ||
		!strings.Contains(string(out), strconv.Itoa(os.Getpid())) {
		t.Errorf("child error %q should name the dir and our pid", out)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = childCommand(t, "lock:"+dir).CombinedOutput()
	if err != nil {
		t.Fatalf("child after Close: %v %q, want it to open the dir", err, out)
	}
}

// TestKill9KeepsAcknowledgedWrites kills a writer with SIGKILL mid-stream and
// checks that every acknowledged batch is there after reopening, and that
// the batch in flight is all or nothing. (kill -9 leaves the page cache
// intact, so this checks replay and atomicity, not the fsync itself: power
// loss cannot be simulated here.)
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	for _, mode := range []string{"syncwrites", "barrier"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cmd := childCommand(t, "writer:"+mode+":"+dir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lastAck := -1
			sc := bufio.NewScanner(stdout)
			deadline := time.Now().Add(20 * time.Second)
			for sc.Scan() && lastAck < 300 && time.Now().Before(deadline) {
				line := sc.Text()
				n, ok := strings.CutPrefix(line, "ACK ")
				if !ok {
					t.Fatalf("child: %s", line)
				}
				if lastAck, err = strconv.Atoi(n); err != nil {
					t.Fatal(err)
				}
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			if lastAck < 0 {
				t.Fatal("child acknowledged nothing")
			}

			e, err := Open(dir, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for i := 0; ; i++ {
				present := 0
				for j := range 4 {
					if v := mustGet(t, e, CFDefault, childKey(i, j)); v != nil {
						present++
						if string(v) != strconv.Itoa(i) {
							t.Fatalf("batch %d key %d: value %q", i, j, v)
						}
					}
				}
				if present != 0 && present != 4 {
					t.Fatalf("batch %d half applied: %d of 4 keys", i, present)
				}
				if present == 0 {
					if i <= lastAck {
						t.Fatalf("acknowledged batch %d lost (last ack %d)", i, lastAck)
					}
					t.Logf("recovered %d batches, %d acknowledged", i, lastAck+1)
					return
				}
			}
		})
	}
}
