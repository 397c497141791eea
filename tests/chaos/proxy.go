package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// source is who opened a proxied connection: a store index, or anyClient for
// any other process (the test's clients, the scheduler).
type source int

const anyClient source = -1

// proxy listens in front of one store and forwards every connection to it.
// Faults apply per source store: blocked sources are cut (their
// connections closed, new ones closed at once) or blackholed (accepted and
// never answered); delay is added before every forwarded chunk.
type proxy struct {
	lis    net.Listener
	target func() string // the store's bound address, which may change on restart
	whoIs  func(remote net.Addr) source
	mu     sync.Mutex
	cut    map[source]bool
	hole   map[source]bool
	delay  time.Duration
	conns  map[*proxyConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type proxyConn struct {
	src       source
	down, up  net.Conn
	closeOnce sync.Once
}

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		c.down.Close()
		if c.up != nil {
			c.up.Close()
		}
	})
}

func newProxy(target func() string, whoIs func(net.Addr) source) (*proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{lis: lis, target: target, whoIs: whoIs, cut: map[source]bool{}, hole: map[source]bool{}, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *proxy) serve(down net.Conn) {
	defer p.wg.Done()
	pc := &proxyConn{src: p.whoIs(down.RemoteAddr()), down: down}
	p.mu.Lock()
	if p.closed || p.cut[pc.src] {
		p.mu.Unlock()
		down.Close()
		return
	}
	p.conns[pc] = struct{}{}
	p.mu.Unlock()
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	up, err := net.DialTimeout("tcp", p.target(), 2*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	pc.up = up
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(pc, up, down); done <- struct{}{} }()
	go func() { p.pipe(pc, down, up); done <- struct{}{} }()
	<-done
	pc.close()
	<-done
}

// pipe copies src to dst, dropping data while the source is blackholed and
// sleeping the configured delay before each chunk.
func (p *proxy) pipe(pc *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d, hole := p.delay, p.hole[pc.src]
			p.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			if !hole {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// block cuts (closes) or blackholes (silently drops the bytes of) every
// connection from src, existing and new.
func (p *proxy) block(src source, blackhole bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if blackhole {
		p.hole[src] = true
		return
	}
	p.cut[src] = true
	for c := range p.conns {
		if c.src == src {
			c.close()
		}
	}
}

func (p *proxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// heal lifts every fault. Blackholed connections are closed: their
// streams lost bytes and must not resume mid-frame.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if p.hole[c.src] {
			c.close()
		}
	}
	p.cut, p.hole, p.delay = map[source]bool{}, map[source]bool{}, 0
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.lis.Close()
	p.wg.Wait()
}

// socketOwner finds the process that owns the local end of a loopback TCP
// connection whose remote end is at port: the inode of the socket from
// /proc/net/tcp, then the process among pids that holds it in /proc/PID/fd.
// It returns 0 when none of pids owns it.
func socketOwner(localPort, remotePort int, pids []int) int {
	inode := tcpInode(localPort, remotePort)
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		if pid == 0 {
			continue
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && l == want {
				return pid
			}
		}
	}
	return 0
}

func tcpInode(localPort, remotePort int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	lp, rp := fmt.Sprintf(":%04X", localPort), fmt.Sprintf(":%04X", remotePort)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || !strings.HasSuffix(fs[1], lp) || !strings.HasSuffix(fs[2], rp) {
			continue
		}
		return fs[9]
	}
	return ""
}

func portOf(a net.Addr) int {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
