package cluster

import (
	"os"
	"testing"

	"go.uber.org/zap"
)

// dbgLogger returns a logger writing info logs to the file named by
// DBGLOG, for debugging a failing scenario; nil (discard) without it.
func dbgLogger(t *testing.T) *zap.Logger {
	if os.Getenv("DBGLOG") == "" {
		return nil
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths = []string{os.Getenv("DBGLOG")}
	cfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	l, _ := cfg.Build()
	return l
}
