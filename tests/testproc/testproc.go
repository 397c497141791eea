// Package testproc runs the regionkv binary as real processes for the
// process-level test packages (tests, tests/chaos): it builds the binary
// once per package, starts processes, finds the address a server reports,
// and signals, waits for and reaps them. Every process a test starts is
// killed by the test's cleanup at the latest.
package testproc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Main builds the regionkv main package at root (relative to the test's
// package directory) into a temporary directory, stores the binary's path
// in *bin, runs the tests and removes the binary. Call it from TestMain
// and pass its result to os.Exit.
func Main(m *testing.M, root string, bin *string) int {
	dir, err := os.MkdirTemp("", "regionkv-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "regionkv")
	build := exec.Command("go", "build", "-o", *bin, root)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build regionkv:", err)
		return 1
	}
	return m.Run()
}

// Proc is a process started by a test. Its stderr (the log) is kept, up to
// maxStderr bytes, so that a failing test can show it.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	addrCh chan string
	bound  string
	done   chan struct{}
	err    error
}

const (
	maxStderr  = 8 << 20
	maxLogLine = 1 << 20
	// shownStderr is how much of a failed test's process log is shown.
	shownStderr = 20000
)

var addrField = regexp.MustCompile(`\[addr=([^\]\s]+)\]`)

// Start runs `bin args...`. A server reports the address it serves on in
// its "started" log line; Addr waits for it.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), addrCh: make(chan string, 1), done: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), maxLogLine)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.stderr.Len() < maxStderr {
				p.stderr.WriteString(line + "\n")
			}
			p.mu.Unlock()
			if m := addrField.FindStringSubmatch(line); m != nil && !sent && strings.Contains(line, "started") {
				p.addrCh <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pipe) // a line past maxLogLine stops the scanner
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			out := p.Output()
			if len(out) > shownStderr {
				out = "...\n" + out[len(out)-shownStderr:]
			}
			t.Logf("stderr of regionkv %s:\n%s", strings.Join(args, " "), out)
		}
	})
	return p
}

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output is the process's stderr so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Addr waits (up to a minute) until the process reports the address it
// serves on.
func (p *Proc) Addr(t testing.TB) string {
	t.Helper()
	if p.bound != "" {
		return p.bound
	}
	select {
	case p.bound = <-p.addrCh:
		return p.bound
	case <-p.done:
		t.Fatalf("process exited before serving: %v", p.err)
	case <-time.After(60 * time.Second):
		t.Fatal("process did not report its address within 60s")
	}
	return ""
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait returns the process's exit error once it has exited; the test
// fails if that takes longer than timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("process still running after %v", timeout)
		return nil
	}
}

// Terminate sends SIGTERM (a clean shutdown).
func (p *Proc) Terminate(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Kill sends SIGKILL (after SIGCONT, so that a paused process dies at
// once) and waits for the exit. It does nothing to an exited process.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Signal sends s unless the process has exited.
func (p *Proc) Signal(s syscall.Signal) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(s)
	}
}

// WaitLine polls the process's stderr until re matches it, and returns the
// submatches; the test fails if the process exits first or timeout passes.
func (p *Proc) WaitLine(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("process exited (%v) before logging %q", p.err, re)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within %v", re, timeout)
		}
	}
}

// FreeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago, for processes whose addresses must be known before they
// start (etcd peer URLs) or that must come back on the same ports.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are chosen, so that they differ
		out = append(out, l.Addr().String())
	}
	return out
}
