package playground

import (
	"bytes"
	"strings"
	"testing"

	kvserver "github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/common/security"
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

// TestUsageWithTLS: with TLS on, the greeting's URLs are https://, and it
// prints the tools' flags and uses them in every command it suggests.
func TestUsageWithTLS(t *testing.T) {
	var out bytes.Buffer
	client := security.Config{CAPath: "/d/tls/ca.pem", CertPath: "/d/tls/client.pem", KeyPath: "/d/tls/client-key.pem"}
	printUsage(&out, Cluster{DataDir: "/d", SchedulerAddr: "127.0.0.1:2379", Client: client,
		Stores: []kvserver.Started{{Addr: "127.0.0.1:20160", StoreID: 1, StatusAddr: "127.0.0.1:20180"}}}, false)
	for _, want := range []string{
		"dashboard   https://127.0.0.1:2379/dashboard/\n",
		"(status: https://127.0.0.1:20180/metrics)",
		`TLS="--cacert /d/tls/ca.pem --cert /d/tls/client.pem --key /d/tls/client-key.pem"`,
		"regionkv kv $TLS put hello world\n",
		"regionkv ctl $TLS store list\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "http://") {
		t.Errorf("usage with TLS shows an http:// URL:\n%s", out.String())
	}
}
