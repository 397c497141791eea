package chaos

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestSocketOwner checks that the proxy can tell which process opened a
// connection, which partitions between stores rely on.
func TestSocketOwner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := socketOwner(portOf(c.LocalAddr()), portOf(l.Addr()), []int{12345678, os.Getpid()}); got != os.Getpid() {
		t.Fatalf("owner = %d, want this process %d", got, os.Getpid())
	}
	if got := socketOwner(portOf(c.LocalAddr()), portOf(l.Addr()), []int{12345678}); got != 0 {
		t.Fatalf("owner among other pids = %d, want 0", got)
	}
}

// TestProxyCut checks that a cut source's connections are closed and
// refused, and that heal lets it in again.
func TestProxyCut(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := newProxy(func() string { return backend.Addr().String() }, func(net.Addr) source { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	echo := func() error {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	p.block(1, false)
	if err := echo(); err == nil {
		t.Fatal("cut source got through")
	}
	p.heal()
	if err := echo(); err != nil {
		t.Fatalf("healed: %v", err)
	}
}
