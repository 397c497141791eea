package server

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's Close shuts its peer listener (cmux) with http.Server.Shutdown,
		// which leaves the keep-alive rafthttp connections between in-process
		// members open: their client (persistConn) and server (conn.serve,
		// backgroundRead over cmux) goroutines idle until the process exits.
		// Only the multi-member tests create such connections; this package
		// makes no other HTTP client connections that it does not close.
		goleak.IgnoreAnyFunction("github.com/soheilhy/cmux.(*bufferedReader).Read"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).abortPendingRead"),
	)
}
