package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	"github.com/regionkv/regionkv/tests/testproc"
)

// binPath is the regionkv binary built once for the process tests.
var binPath string

func TestMain(m *testing.M) { os.Exit(testproc.Main(m, "..", &binPath)) }

// proc is a regionkv process started by a test.
type proc = testproc.Proc

// startProc runs `regionkv args...` (testproc.Start).
func startProc(t *testing.T, args ...string) *proc { return testproc.Start(t, binPath, args...) }

func dialStore(t *testing.T, addr string) tikvpb.TikvClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return tikvpb.NewTikvClient(conn)
}

// runCLI runs a short-lived regionkv command and returns stdout, stderr and
// the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}
