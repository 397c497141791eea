// Package config holds a store server's settings and their defaults. The
// defaults work for one store on one machine; every limit that guards the
// server against bad input is here so operators can see and change it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/regionkv/regionkv/proto/common/units"

	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/security"
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("config: invalid")

// Default limits. A key or value over its limit is refused before anything is
// written.
const (
	DefaultAddr          = "127.0.0.1:20160"
	DefaultScheduler     = "127.0.0.1:2379"
	DefaultMaxKeySize    = 8 << 10  // 8 KiB
	DefaultMaxValueSize  = 8 << 20  // 8 MiB
	DefaultMaxScanLimit  = 10240    // rows in one RawScan response
	DefaultMaxGRPCMsgLen = 64 << 20 // large enough for a batch of big values
)

// Config is the configuration of one store server.
type Config struct {
	// Addr is the address the gRPC service listens on.
	Addr string `toml:"addr"`
	// AdvertiseAddr is the address the store registers with the scheduler,
	// which other stores and clients dial. Empty means the bound Addr. It
	// lets a proxy (a fault-injecting one in tests, a NAT in deployments)
	// stand in front of the store.
	AdvertiseAddr string `toml:"advertise-addr"`
	// StatusAddr is the HTTP address of /metrics and /health. Empty means
	// Addr's host with its port + 20 (20180 for the default 20160), or port
	// 0 when Addr's port is 0; see ResolvedStatusAddr.
	StatusAddr string `toml:"status-addr"`
	// DataDir holds the store's engines (raft/ and kv/).
	DataDir string `toml:"data-dir"`
	// Standalone serves the raw API from the local engine without Raft.
	Standalone bool `toml:"standalone"`
	// Scheduler is the scheduler address a Raft store registers with;
	// several, comma-separated, for a scheduler cluster (any member will
	// do, the client finds the leader).
	Scheduler string `toml:"scheduler"`

	MaxKeySize    int `toml:"max-key-size"`
	MaxValueSize  int `toml:"max-value-size"`
	MaxScanLimit  int `toml:"max-scan-limit"`
	MaxGRPCMsgLen int `toml:"max-grpc-msg-len"`

	// Raftstore tunes a Raft store (ignored when Standalone).
	Raftstore Raftstore `toml:"raftstore"`
	// Split tunes load-based split (ignored when Standalone).
	Split Split `toml:"split"`

	// Log is where and how the store logs; the root command's --log-*
	// flags win over it.
	Log logging.Config `toml:"log"`

	// Security turns on mutual TLS for every connection the store serves
	// (gRPC, status) and makes (to the scheduler, to other stores).
	Security security.Config `toml:"security"`
}

// statusPortOffset puts a store's status port next to its gRPC port, as
// TiKV does (20160 and 20180).
const statusPortOffset = 20

// ResolvedStatusAddr is StatusAddr, or the address derived from Addr when
// it is empty.
func (c *Config) ResolvedStatusAddr() string {
	if c.StatusAddr != "" {
		return c.StatusAddr
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return ""
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(n+statusPortOffset))
}

// SchedulerAddrs splits Scheduler at commas, dropping blanks.
func (c *Config) SchedulerAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.Scheduler, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Load reads a TOML file over c: keys absent from the file keep c's
// values, and a key c does not know is an error that names it.
func (c *Config) Load(path string) error {
	return units.LoadFile(path, c, ErrInvalid)
}

// TOML encodes c as a config file.
func (c Config) TOML() ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Default returns a configuration that works on one machine.
func Default() Config {
	return Config{
		Addr:          DefaultAddr,
		Scheduler:     DefaultScheduler,
		MaxKeySize:    DefaultMaxKeySize,
		MaxValueSize:  DefaultMaxValueSize,
		MaxScanLimit:  DefaultMaxScanLimit,
		MaxGRPCMsgLen: DefaultMaxGRPCMsgLen,
		Raftstore:     DefaultRaftstore(),
		Split:         DefaultSplit(),
		Log:           logging.Default(),
		// An empty list, not nil, so that the default config file shows
		// the key.
		Security: security.Config{CertAllowedCN: []string{}},
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: addr %q: %v", ErrInvalid, c.Addr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("%w: advertise-addr %q: %v", ErrInvalid, c.AdvertiseAddr, err)
		}
	}
	if c.StatusAddr != "" {
		if _, _, err := net.SplitHostPort(c.StatusAddr); err != nil {
			return fmt.Errorf("%w: status-addr %q: %v", ErrInvalid, c.StatusAddr, err)
		}
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data-dir must be set", ErrInvalid)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("%w: [log]: %v", ErrInvalid, err)
	}
	if err := c.Security.Validate(); err != nil {
		return fmt.Errorf("%w: [security]: %v", ErrInvalid, err)
	}
	if c.MaxKeySize <= 0 {
		return fmt.Errorf("%w: max-key-size must be positive, got %d", ErrInvalid, c.MaxKeySize)
	}
	if c.MaxValueSize <= 0 {
		return fmt.Errorf("%w: max-value-size must be positive, got %d", ErrInvalid, c.MaxValueSize)
	}
	if c.MaxScanLimit <= 0 {
		return fmt.Errorf("%w: max-scan-limit must be positive, got %d", ErrInvalid, c.MaxScanLimit)
	}
	if c.MaxGRPCMsgLen < c.MaxValueSize+c.MaxKeySize+1024 {
		return fmt.Errorf("%w: max-grpc-msg-len %d cannot carry one value of max-value-size %d",
			ErrInvalid, c.MaxGRPCMsgLen, c.MaxValueSize)
	}
	if !c.Standalone {
		for _, a := range c.SchedulerAddrs() {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("%w: scheduler %q: %v", ErrInvalid, a, err)
			}
		}
		if err := c.Raftstore.Validate(); err != nil {
			return err
		}
		if err := c.Split.Validate(); err != nil {
			return err
		}
	}
	return nil
}
