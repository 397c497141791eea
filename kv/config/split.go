package config

import (
	"fmt"

	"github.com/regionkv/regionkv/proto/common/units"
)

// Split holds load-based split: a region whose requests or bytes per second
// stay over a threshold is split at a key that divides its load, sampled
// from the requests it serves (raftstore's LoadSplitConfig). The defaults
// here are raftstore.DefaultLoadSplitConfig's.
type Split struct {
	// QPSThreshold (requests per second: each key a get, put or delete
	// names, each scan or delete-range) and ByteThreshold (bytes read and
	// written per second) make a one-second window hot; 0 turns a criterion
	// off, both 0 turn load-based split off.
	QPSThreshold  uint64      `toml:"qps-threshold"`
	ByteThreshold units.Bytes `toml:"byte-threshold"`
	// DetectTimes hot windows in a row lead to a split.
	DetectTimes int `toml:"detect-times"`
	// SampleNum requests are kept as samples to choose the key from.
	SampleNum int `toml:"sample-num"`
	// A split key must leave at most SplitBalanceScore imbalance,
	// |left - right| / (left + right), between the sampled requests wholly
	// on each side, and cut at most SplitContainedScore of them in two.
	SplitBalanceScore   float64 `toml:"split-balance-score"`
	SplitContainedScore float64 `toml:"split-contained-score"`
}

// DefaultSplit returns raftstore.DefaultLoadSplitConfig's values.
func DefaultSplit() Split {
	return Split{QPSThreshold: 3000, ByteThreshold: 30 * units.MiB, DetectTimes: 10, SampleNum: 256,
		SplitBalanceScore: 0.25, SplitContainedScore: 0.5}
}

// Validate reports the first problem with s.
func (s *Split) Validate() error {
	switch {
	case s.DetectTimes < 2 || s.DetectTimes > 3600:
		return fmt.Errorf("%w: split.detect-times %d is outside [2, 3600]", ErrInvalid, s.DetectTimes)
	case s.SampleNum < 16 || s.SampleNum > 1<<16:
		return fmt.Errorf("%w: split.sample-num %d is outside [16, 65536]", ErrInvalid, s.SampleNum)
	case !(s.SplitBalanceScore > 0 && s.SplitBalanceScore <= 1):
		return fmt.Errorf("%w: split.split-balance-score %v is outside (0, 1]", ErrInvalid, s.SplitBalanceScore)
	case !(s.SplitContainedScore > 0 && s.SplitContainedScore <= 1):
		return fmt.Errorf("%w: split.split-contained-score %v is outside (0, 1]", ErrInvalid, s.SplitContainedScore)
	}
	return nil
}
