package client

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// IgnoreCurrent skips what package init starts (glog's flush daemon,
	// pulled in by badger through the standalone store of the benchmarks).
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
