package server

import (
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// Errors of bad requests. They reach the client as the text of a response's
// error field (never as a gRPC status), so each message names what was wrong
// and the limit it broke.
var (
	ErrEmptyKey        = errors.New("server: key must not be empty")
	ErrEmptyValue      = errors.New("server: value must not be empty")
	ErrKeyTooLarge     = errors.New("server: key too large")
	ErrValueTooLarge   = errors.New("server: value too large")
	ErrInvalidRange    = errors.New("server: invalid key range")
	ErrScanLimit       = errors.New("server: scan limit too large")
	ErrTTLNotSupported = errors.New("server: ttl is not supported")
	ErrAPIVersion      = errors.New("server: unsupported api version")
	ErrMismatchedBatch = errors.New("server: batch is malformed")
)

func (s *Server) checkContext(c *kvrpcpb.Context) error {
	if c == nil {
		return nil
	}
	if c.ApiVersion != kvrpcpb.APIVersion_V1 {
		return fmt.Errorf("%w %s: regionkv serves the raw API V1", ErrAPIVersion, c.ApiVersion)
	}
	return nil
}

func (s *Server) checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > s.cfg.MaxKeySize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrKeyTooLarge, len(key), s.cfg.MaxKeySize)
	}
	return nil
}

func (s *Server) checkValue(value []byte) error {
	if len(value) == 0 {
		return ErrEmptyValue
	}
	if len(value) > s.cfg.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrValueTooLarge, len(value), s.cfg.MaxValueSize)
	}
	return nil
}

// checkBound validates an optional range bound: empty means unbounded.
func (s *Server) checkBound(key []byte) error {
	if len(key) > s.cfg.MaxKeySize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrKeyTooLarge, len(key), s.cfg.MaxKeySize)
	}
	return nil
}

func checkTTL(ttl uint64) error {
	if ttl != 0 {
		return fmt.Errorf("%w: got ttl %d", ErrTTLNotSupported, ttl)
	}
	return nil
}

// keyError carries a failure in responses whose only error slot is a
// KvPair's KeyError (RawBatchGet, RawScan), as TiKV does.
func keyError(err error) []*kvrpcpb.KvPair {
	return []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: err.Error()}}}
}
