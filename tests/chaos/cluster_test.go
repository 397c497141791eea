package chaos

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one regionkv process. Its stderr is kept for a failing test.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	addrCh chan string
	done   chan struct{}
	err    error
}

var addrField = regexp.MustCompile(`\[addr=([^\]\s]+)\]`)

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binPath, args...), addrCh: make(chan string, 1), done: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.stderr.Len() < 8<<20 {
				p.stderr.WriteString(line + "\n")
			}
			p.mu.Unlock()
			if m := addrField.FindStringSubmatch(line); m != nil && !sent && strings.Contains(line, "started") {
				p.addrCh <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			out := p.output()
			if len(out) > 20000 {
				out = "...\n" + out[len(out)-20000:]
			}
			t.Logf("stderr of regionkv %s:\n%s", strings.Join(args, " "), out)
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) addr(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addrCh:
		return a
	case <-p.done:
		t.Fatalf("process exited before serving: %v", p.err)
	case <-time.After(60 * time.Second):
		t.Fatal("process did not report its address within 60s")
	}
	return ""
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (after SIGCONT, so a paused process dies at once) and
// waits for the exit. It does nothing to an exited process.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) signal(s syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(s)
	}
}

// cluster is a scheduler and n stores, each store behind its own proxy.
type cluster struct {
	t       *testing.T
	base    string
	sched   *proc
	schedAd string
	// schedArgs fix every port, so that a restart is the same member.
	schedArgs []string
	mu        sync.Mutex // guards stores and bound
	stores    []*proc
	bound     []string // each store's listen address, kept across restarts
	proxies   []*proxy
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, base: t.TempDir(), stores: make([]*proc, n), bound: make([]string, n)}
	c.schedArgs = []string{"scheduler", "--addr", freeAddr(t), "--peer-addr", freeAddr(t),
		"--etcd-client-addr", freeAddr(t), "--status-addr", freeAddr(t), "--data-dir", filepath.Join(c.base, "scheduler")}
	c.sched = startProc(t, c.schedArgs...)
	c.schedAd = c.sched.addr(t)
	for i := 0; i < n; i++ {
		i := i
		p, err := newProxy(func() string {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.bound[i]
		}, c.whoIs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
		c.proxies = append(c.proxies, p)
		c.bound[i] = "127.0.0.1:0"
	}
	for i := 0; i < n; i++ {
		c.startStore(i)
	}
	return c
}

// whoIs maps a proxied connection's remote address to the store process
// that opened it.
func (c *cluster) whoIs(remote net.Addr) source {
	c.mu.Lock()
	pids := make([]int, len(c.stores))
	for i, s := range c.stores {
		if s != nil && !s.exited() {
			pids[i] = s.pid()
		}
	}
	c.mu.Unlock()
	// The dialer's local port is the proxied connection's remote port; its
	// remote port is one of the proxies'.
	rport := portOf(remote)
	for _, p := range c.proxies {
		if pid := socketOwner(rport, portOf(p.lis.Addr()), pids); pid != 0 {
			for i, q := range pids {
				if q == pid {
					return source(i)
				}
			}
		}
	}
	return anyClient
}

func (c *cluster) startStore(i int) {
	c.t.Helper()
	c.mu.Lock()
	addr := c.bound[i]
	c.mu.Unlock()
	p := startProc(c.t, "server", "--scheduler", c.schedAd, "--addr", addr,
		"--advertise-addr", c.proxies[i].addr(), "--data-dir", filepath.Join(c.base, fmt.Sprintf("store-%d", i+1)))
	c.mu.Lock()
	c.stores[i] = p
	c.mu.Unlock()
	b := p.addr(c.t)
	c.mu.Lock()
	c.bound[i] = b
	c.mu.Unlock()
}

func (c *cluster) store(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[i]
}

func (c *cluster) restartScheduler() {
	c.t.Helper()
	c.sched = startProc(c.t, c.schedArgs...)
	c.sched.addr(c.t)
}

// waitReplicated waits until want stores besides the bootstrap one have
// applied a snapshot of the first region, that is, it has its replicas.
func (c *cluster) waitReplicated(want int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		got := 0
		for i := 1; i < len(c.stores); i++ {
			if strings.Contains(c.store(i).output(), `"applied snapshot"`) {
				got++
			}
		}
		if got >= want {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling process logs
	}
	c.t.Fatalf("the first region did not get %d more replicas within %v", want, within)
}

// healAll lifts network faults, resumes paused stores, restarts dead ones
// and the scheduler.
func (c *cluster) healAll() {
	for _, p := range c.proxies {
		p.heal()
	}
	if c.sched.exited() {
		c.restartScheduler()
	}
	for i := range c.stores {
		s := c.store(i)
		s.signal(syscall.SIGCONT)
		if s.exited() {
			c.startStore(i)
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for processes that must come back on the same ports.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
