// Package datadir keeps a process off a data dir that is not its own: an
// exclusive lock held for as long as the process uses the dir (a second
// process fails at once, naming the holder's PID), and a format-version
// file that a newer on-disk format than this build understands refuses.
// Stores and schedulers both use it; it imports nothing of ours.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Sentinel errors; the returned errors wrap them with the dir and detail.
var (
	// ErrLocked: another process (or another lock in this one) holds the
	// data dir.
	ErrLocked = errors.New("datadir: data dir is in use by another process")
	// ErrNewerFormat: the dir was written by a newer regionkv whose
	// format this build cannot read.
	ErrNewerFormat = errors.New("datadir: data dir has a newer format")
	// ErrBadFormatFile: the format-version file is not a version number.
	ErrBadFormatFile = errors.New("datadir: unreadable format-version file")
)

// LockFileName is the lock file inside a data dir.
const LockFileName = "LOCK"

// Lock is an exclusive flock(2) on <dir>/LOCK.
//
// Why flock: flock locks belong to the open file description, so they
// conflict within one process too (two stores on one dir in a test), and
// the kernel drops them when the process dies, kill -9 included: a stale
// LOCK file never blocks a restart. The file is never deleted: deleting it
// would let two processes lock two different inodes of the same name. The
// PID written into it is informational only, for the next process's error
// message; the flock is the lock.
type Lock struct {
	f *os.File
}

// dirError says what is wrong with which dir in its own words (callers
// prefix their package), and matches its sentinel under errors.Is.
type dirError struct {
	sentinel error
	msg      string
}

func (e *dirError) Error() string { return e.msg }
func (e *dirError) Unwrap() error { return e.sentinel }

// Acquire creates dir if needed and locks it, without waiting: a dir held
// elsewhere fails at once with an error wrapping ErrLocked that names the
// holder's PID.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("datadir: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFileName)
	// Go opens files with O_CLOEXEC, so a child process never inherits the
	// lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("datadir: open lock file: %w", err)
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
			msg := fmt.Sprintf("data dir %s is in use by another process", dir)
			if holder != "" {
				msg += " (pid " + holder + ")"
			}
			return nil, &dirError{ErrLocked, msg}
		}
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
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

// Release drops the lock by closing the descriptor. It is safe on a nil
// or released Lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// FormatFileName is the format-version file inside a data dir.
const FormatFileName = "format-version"

// CheckFormat compares the format version recorded in dir with current,
// the newest this build writes and reads:
//
//   - no file: the dir is new, or was written before the file existed
//     (which is format 1, the first); current is recorded;
//   - a version up to current: fine (an older format this build still
//     reads; upgrading it is the caller's business);
//   - a newer version: refused with ErrNewerFormat, nothing touched;
//   - anything else: refused with ErrBadFormatFile.
//
// It returns the version found (current for a new dir). Call it with the
// dir locked.
func CheckFormat(dir string, current int) (int, error) {
	path := filepath.Join(dir, FormatFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := writeFormat(dir, current); err != nil {
			return 0, err
		}
		return current, nil
	}
	if err != nil {
		return 0, fmt.Errorf("datadir: read %s: %w", path, err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v < 1 {
		return 0, &dirError{ErrBadFormatFile, fmt.Sprintf("%s holds %q, not a format version", path, strings.TrimSpace(string(b)))}
	}
	if v > current {
		return 0, &dirError{ErrNewerFormat, fmt.Sprintf("data dir %s has format version %d, but this regionkv reads "+
			"versions up to %d: run a regionkv at least as new as the one that wrote it", dir, v, current)}
	}
	return v, nil
}

// writeFormat records v in dir through a temporary file, renamed into
// place and synced, so that a crash leaves either no file or a whole one.
func writeFormat(dir string, v int) error {
	tmp := filepath.Join(dir, FormatFileName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("datadir: write format version: %w", err)
	}
	_, err = f.WriteString(strconv.Itoa(v) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, FormatFileName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("datadir: write format version: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
