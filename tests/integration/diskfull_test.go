package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client"
	kvconfig "github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/proto/common/units"
)

// mountTmpfs mounts a tmpfs of size bytes at dir, unmounted when the test
// ends (after everything registered later, such as the cluster, stopped).
// It skips the test where the machine does not let this process mount one.
func mountTmpfs(t *testing.T, dir string, size uint64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk test needs root in a mount namespace of its own or the host's", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// A lazy unmount still frees it once the last file closes.
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
}

func availableBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return fs.Bavail * uint64(fs.Bsize)
}

// fillFile writes a file of n bytes under dir (written pages count on a tmpfs,
// unlike a sparse file).
func fillFile(t *testing.T, path string, n uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for n > 0 {
		w := min(n, uint64(len(chunk)))
		if _, err := f.Write(chunk[:w]); err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
		n -= w
	}
}

// TestDiskFullOnARealFileSystem: three stores on a small tmpfs. Once its
// free space falls below reserve-space (a file fills it), writes through
// the SDK fail at once with ErrDiskFull naming the reserve, nothing refused
// is written, reads go on, and no store stops; once the file is removed,
// writes are accepted again and every acknowledged write is there.
func TestDiskFullOnARealFileSystem(t *testing.T) {
	const reserve = 48 << 20
	mnt := filepath.Join(t.TempDir(), "tmpfs")
	mountTmpfs(t, mnt, 192<<20)
	c := New(t, Options{Stores: 3, StoresDir: mnt, Raftstore: func(r *kvconfig.Raftstore) {
		r.ReserveSpace = units.Bytes(reserve)
	}})
	cl := c.NewClient(client.WithRequestTimeout(5 * time.Second))
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	acked := map[string]string{}
	for i := range 50 {
		k, v := fmt.Sprintf("full-%03d", i), fmt.Sprintf("v%d", i)
		if err := cl.Put(ctx(), []byte(k), []byte(v)); err != nil {
			t.Fatalf("put %s with room on disk: %v", k, err)
		}
		acked[k] = v
	}

	filler := filepath.Join(mnt, "filler")
	avail := availableBytes(t, mnt)
	if avail < reserve {
		t.Fatalf("the tmpfs has %d bytes free before filling, below the %d reserve", avail, reserve)
	}
	fillFile(t, filler, avail-reserve/2)

	var refused []string
	attempt := 0
	c.WaitFor(20*time.Second, "writes refused with ErrDiskFull", func() error {
		attempt++
		k := fmt.Sprintf("refused-%03d", attempt)
		err := cl.Put(ctx(), []byte(k), []byte("x"))
		if err == nil {
			acked[k] = "x"
			return errors.New("a write was accepted")
		}
		if !errors.Is(err, client.ErrDiskFull) {
			return fmt.Errorf("write failed with %w, not ErrDiskFull", err)
		}
		if !strings.Contains(err.Error(), "reserve-space") {
			t.Fatalf("the disk-full error does not say why: %v", err)
		}
		if !errors.Is(err, client.ErrUndetermined) {
			refused = append(refused, k)
		}
		return nil
	})
	for k, v := range acked {
		got, err := cl.Get(ctx(), []byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("read %s while the disk is full: %q, %v; want %q", k, got, err, v)
		}
	}
	for _, s := range c.Stores {
		select {
		case <-s.Raft.Failed():
			t.Fatalf("store %d stopped on a full disk: %v", s.ID, s.Raft.Err())
		default:
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(20*time.Second, "writes accepted after the space was freed", func() error {
		return cl.Put(ctx(), []byte("after"), []byte("1"))
	})
	acked["after"] = "1"
	for k, v := range acked {
		got, err := cl.Get(ctx(), []byte(k))
		if err != nil || string(got) != v {
			t.Fatalf("acknowledged %s: %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range refused {
		if got, err := cl.Get(ctx(), []byte(k)); err != nil || got != nil {
			t.Fatalf("refused write %s: read %q, %v; want absent", k, got, err)
		}
	}
}
