package playground

import (
	"bytes"
	"strings"
	"testing"

	kvserver "github.com/regionkv/regionkv/kv/server"
)

// TestUsageNamesDashboard: the playground's greeting leads with the
// dashboard's URL on the scheduler's address.
func TestUsageNamesDashboard(t *testing.T) {
	var out bytes.Buffer
	printUsage(&out, Cluster{DataDir: "/tmp/x", SchedulerAddr: "127.0.0.1:2379",
		Stores: []kvserver.Started{{Addr: "127.0.0.1:20160", StoreID: 1, StatusAddr: "127.0.0.1:20180"}}}, true)
	if !strings.Contains(out.String(), "dashboard   http://127.0.0.1:2379/dashboard/\n") {
		t.Fatalf("usage lacks the dashboard URL:\n%s", out.String())
	}
}
