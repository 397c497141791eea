// Package logging builds a server's logger from the [log] table of its
// config file and the --log-* flags: pingcap/log (zap) to stderr or to a
// file rotated by size and age.
package logging

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pingcap/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regionkv/regionkv/proto/common/units"
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("logging: invalid")

// Config is the [log] table.
type Config struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level" json:"level"`
	// Format is text (pingcap/log's bracketed lines) or json.
	Format string `toml:"format" json:"format"`
	// File receives the log instead of stderr when set.
	File string `toml:"file" json:"file"`
	// MaxSize rotates File once it grows past this size (whole MiB).
	MaxSize units.Bytes `toml:"max-size" json:"max-size"`
	// MaxDays removes rotated files older than this many days; 0 keeps
	// them.
	MaxDays int `toml:"max-days" json:"max-days"`
	// MaxBackups keeps at most this many rotated files; 0 keeps all.
	MaxBackups int `toml:"max-backups" json:"max-backups"`
}

// Default logs at info, as text, to stderr; a file would rotate at 300 MiB.
func Default() Config {
	return Config{Level: "info", Format: "text", MaxSize: 300 * units.MiB}
}

// Levels are the accepted levels.
var Levels = []string{"debug", "info", "warn", "error"}

// ValidLevel reports whether s is one of Levels.
func ValidLevel(s string) error {
	for _, l := range Levels {
		if s == l {
			return nil
		}
	}
	return fmt.Errorf("%w: log level %q: want one of %s", ErrInvalid, s, strings.Join(Levels, ", "))
}

// ValidFormat reports whether s is text or json.
func ValidFormat(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("%w: log format %q: want text or json", ErrInvalid, s)
	}
	return nil
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if err := ValidLevel(c.Level); err != nil {
		return err
	}
	if err := ValidFormat(c.Format); err != nil {
		return err
	}
	if c.File != "" && c.MaxSize < units.MiB {
		return fmt.Errorf("%w: log max-size %s: rotation needs at least 1MiB", ErrInvalid, c.MaxSize)
	}
	if c.MaxDays < 0 || c.MaxBackups < 0 {
		return fmt.Errorf("%w: log max-days (%d) and max-backups (%d) must not be negative", ErrInvalid, c.MaxDays, c.MaxBackups)
	}
	return nil
}

// Build returns the logger c describes.
func (c Config) Build() (*zap.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pc := &log.Config{Level: c.Level, Format: c.Format}
	if c.File == "" {
		out := zapcore.Lock(os.Stderr)
		lg, _, err := log.InitLoggerWithWriteSyncer(pc, out, out)
		return lg, err
	}
	pc.File = log.FileLogConfig{Filename: c.File, MaxSize: int((c.MaxSize + units.MiB - 1) / units.MiB),
		MaxDays: c.MaxDays, MaxBackups: c.MaxBackups}
	lg, _, err := log.InitLogger(pc)
	if err != nil {
		return nil, fmt.Errorf("logging: open %s: %w", c.File, err)
	}
	return lg, nil
}

// Factory builds the logger of a server command from its config file's
// [log] table; the root command's --log-* flags, when given, win.
type Factory func(Config) (*zap.Logger, error)
