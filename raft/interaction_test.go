package raft_test

import (
	"path/filepath"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/regionkv/regionkv/raft/rafttest"
)

// TestInteraction runs the scripts in testdata/. Each script drives a small
// cluster command by command and compares the protocol transcript with the
// golden output. Rewrite the golden output with
//
//	go test ./raft -run TestInteraction -rewrite
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Base(filepath.Dir(filepath.Dir(path))) == "fuzz" {
			t.Skip("a go fuzz seed corpus entry, not a script")
		}
		env := rafttest.NewInteractionEnv()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return env.Handle(t, d)
		})
	})
}
