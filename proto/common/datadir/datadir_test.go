package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAcquireConflictsUntilRelease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want ErrLocked", err)
	}
	// The holder is named: this process.
	if want := "(pid " + strconv.Itoa(os.Getpid()) + ")"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q should name %s and %s", err, dir, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	_ = l2.Release()
}

func TestCheckFormat(t *testing.T) {
	dir := t.TempDir()
	// A dir without the file is the current format, and gets the file.
	v, err := CheckFormat(dir, 3)
	if err != nil || v != 3 {
		t.Fatalf("new dir: %d, %v", v, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FormatFileName))
	if err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Fatalf("format file %q, %v; want 3", b, err)
	}
	// Older and equal versions pass and are not rewritten.
	if v, err := CheckFormat(dir, 5); err != nil || v != 3 {
		t.Fatalf("older format: %d, %v; want 3", v, err)
	}
	// A newer one is refused, with the versions named, and left alone.
	_, err = CheckFormat(dir, 2)
	if !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("newer format: %v, want ErrNewerFormat", err)
	}
	for _, want := range []string{dir, "format version 3", "up to 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, FormatFileName)); strings.TrimSpace(string(b)) != "3" {
		t.Errorf("a refused check rewrote the file: %q", b)
	}
	// Garbage is refused.
	for _, bad := range []string{"", "x", "0", "-1", "2.5"} {
		if err := os.WriteFile(filepath.Join(dir, FormatFileName), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckFormat(dir, 3); !errors.Is(err, ErrBadFormatFile) {
			t.Errorf("file %q: %v, want ErrBadFormatFile", bad, err)
		}
	}
}
