// Package config holds a store server's settings and their defaults. The
// defaults work for one store on one machine; every limit that guards the
// server against bad input is here so operators can see and change it.
package config

import (
	"errors"
	"fmt"
	"net"
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("config: invalid")

// Default limits. A key or value over its limit is refused before anything is
// written.
const (
	DefaultAddr          = "127.0.0.1:20160"
	DefaultMaxKeySize    = 8 << 10  // 8 KiB
	DefaultMaxValueSize  = 8 << 20  // 8 MiB
	DefaultMaxScanLimit  = 10240    // rows in one RawScan response
	DefaultMaxGRPCMsgLen = 64 << 20 // large enough for a batch of big values
)

// Config is the configuration of one store server.
type Config struct {
	// Addr is the address the gRPC service listens on.
	Addr string
	// DataDir holds the store's engines (raft/ and kv/).
	DataDir string
	// Standalone serves the raw API from the local engine without Raft.
	Standalone bool
	// Scheduler is the scheduler address a Raft store registers with.
	Scheduler string

	MaxKeySize    int
	MaxValueSize  int
	MaxScanLimit  int
	MaxGRPCMsgLen int
}

// Default returns a configuration that works on one machine.
func Default() Config {
	return Config{
		Addr:          DefaultAddr,
		MaxKeySize:    DefaultMaxKeySize,
		MaxValueSize:  DefaultMaxValueSize,
		MaxScanLimit:  DefaultMaxScanLimit,
		MaxGRPCMsgLen: DefaultMaxGRPCMsgLen,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: addr %q: %v", ErrInvalid, c.Addr, err)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data-dir must be set", ErrInvalid)
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
	return nil
}
