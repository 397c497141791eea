package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the lock file inside the data dir.
const lockFileName = "LOCK"

// dirLock is an exclusive flock(2) on <dir>/LOCK.
//
// Why flock and why before badger: badger locks each of its own dirs, but only
// once it has started opening them, and a failure there surfaces as a badger
// error in the middle of opening the second DB. Taking one lock on the data
// dir first means a second process fails at once, before touching any file,
// with ErrDataDirLocked. flock locks belong to the open file description, so
// they conflict within one process too (two Engines on one dir), and the
// kernel drops them when the process dies, kill -9 included: a stale LOCK
// file never blocks a restart. The file is never deleted: deleting it would
// let two processes lock two different inodes of the same name.
type dirLock struct {
	f *os.File
}

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	// Go opens files with O_CLOEXEC, so a child process never inherits the
	// lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("engine: open lock file: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		holder := readHolder(f)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &dataDirLockedError{dir: dir, holder: holder}
		}
		return nil, fmt.Errorf("engine: lock %s: %w", path, err)
	}
	// Record our pid for the error message of whoever comes next; this is
	// informational only, the flock is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func readHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	s := strings.TrimSpace(string(buf[:n]))
	if _, err := strconv.Atoi(s); err != nil {
		return ""
	}
	return s
}

// release drops the lock by closing the descriptor.
func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
