package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	"github.com/regionkv/regionkv/tests/testproc"
)

// Common names of the test PKI's certificates; the servers admit these two.
const (
	nodeCN    = "regionkv-node"
	toolCN    = "regionkv-tool"
	allowedCN = nodeCN + "," + toolCN
)

// testPKI is a cluster CA with the servers' and the tools' certificates,
// and the certificates a server must refuse: one of another CA, an expired
// one and one whose CN is not allowed (each with the cluster's CA file, so
// that the client itself trusts the server).
type testPKI struct {
	t    *testing.T
	dir  string
	ca   *security.CA
	node security.Config
	tool security.Config
	bad  []badClient
}

// badClient is a client configuration a server refuses, and what the
// client's error and the server's log say about it.
type badClient struct {
	name       string
	cfg        security.Config // zero: plaintext
	clientSays string
	serverSays string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := security.NewCA("regionkv test CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{t: t, dir: dir, ca: ca}
	writeFile(t, filepath.Join(dir, "ca.pem"), ca.CertPEM())
	p.node = p.issue(ca, "node", nodeCN, now.Add(24*time.Hour))
	p.tool = p.issue(ca, "tool", toolCN, now.Add(24*time.Hour))
	other, err := security.NewCA("another CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p.bad = []badClient{
		{"plaintext", security.Config{}, "requires TLS", "refused a plaintext connection"},
		{"other-ca", p.issue(other, "other-ca", toolCN, now.Add(24*time.Hour)), "unknown certificate authority", "unknown authority"},
		{"expired", p.issue(ca, "expired", toolCN, now.Add(-time.Minute)), "expired certificate", "expired"},
		{"cn", p.issue(ca, "intruder", "intruder", now.Add(24*time.Hour)), `does not admit certificate CN "intruder"`, `CN \"intruder\"`},
	}
	return p
}

// issue writes a certificate of ca named cn for loopback, and returns a
// configuration with it and the cluster's CA file.
func (p *testPKI) issue(ca *security.CA, file, cn string, notAfter time.Time) security.Config {
	p.t.Helper()
	cert, key, err := ca.Issue(cn, []string{"127.0.0.1", "localhost"}, time.Now().Add(-2*time.Hour), notAfter)
	if err != nil {
		p.t.Fatal(err)
	}
	c := security.Config{CAPath: filepath.Join(p.dir, "ca.pem"), CertPath: filepath.Join(p.dir, file+".pem"),
		KeyPath: filepath.Join(p.dir, file+"-key.pem")}
	writeFile(p.t, c.CertPath, cert)
	writeFile(p.t, c.KeyPath, key)
	return c
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFlags are the command-line flags of c (none for plaintext).
func tlsFlags(c security.Config) []string {
	if !c.Enabled() {
		return nil
	}
	return []string{"--cacert", c.CAPath, "--cert", c.CertPath, "--key", c.KeyPath}
}

// serverFlags are a server's TLS flags with the allowed CNs.
func (p *testPKI) serverFlags() []string {
	return append(tlsFlags(p.node), "--cert-allowed-cn", allowedCN)
}

func loadTLS(t *testing.T, c security.Config) *security.TLS {
	t.Helper()
	s, err := security.Load(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsCluster is a scheduler and stores, all processes, with mutual TLS.
type tlsCluster struct {
	pki      *testPKI
	base     string
	sched    string // scheduler address (gRPC and HTTP API)
	etcd     string // its embedded etcd's client address
	schedP   *proc
	stores   []*proc
	addrs    []string // stores' gRPC addresses
	statuses []string // stores' status addresses
}

// startTLSCluster starts a scheduler, with schedArgs, and stores.
func startTLSCluster(t *testing.T, p *testPKI, stores int, schedArgs ...string) *tlsCluster {
	t.Helper()
	c := &tlsCluster{pki: p, base: t.TempDir()}
	a := testproc.FreeAddrs(t, 3)
	c.etcd = a[2]
	args := []string{"scheduler", "--addr", a[0], "--peer-addr", a[1], "--etcd-client-addr", a[2],
		"--data-dir", filepath.Join(c.base, "scheduler")}
	c.schedP = startProc(t, append(append(args, p.serverFlags()...), schedArgs...)...)
	c.sched = c.schedP.Addr(t)
	for i := 0; i < stores; i++ {
		c.startStore(t, i, p.serverFlags())
	}
	return c
}

// startStore starts store i (the next one) with the given TLS flags.
func (c *tlsCluster) startStore(t *testing.T, i int, flags []string) {
	t.Helper()
	s := startProc(t, append([]string{"server", "--scheduler", c.sched, "--addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(c.base, fmt.Sprintf("store-%d", i+1))}, flags...)...)
	m := s.WaitLine(t, storeStarted, 60*time.Second)
	c.stores = append(c.stores, s)
	c.addrs = append(c.addrs, m[1])
	c.statuses = append(c.statuses, m[2])
}

// kv runs `regionkv kv` against the cluster as the client of cfg. A
// refused client is refused at once or, for a failed handshake that gRPC
// retries, until the timeout: keep that short for clients meant to fail.
func (c *tlsCluster) kv(t *testing.T, cfg security.Config, args ...string) (string, string, int) {
	t.Helper()
	timeout := "20s"
	if cfg.CertPath != c.pki.tool.CertPath {
		timeout = "2s"
	}
	return runCLI(t, append(append([]string{"kv", "--scheduler", c.sched, "--timeout", timeout}, tlsFlags(cfg)...), args...)...)
}

// ctl runs `regionkv ctl` against the cluster as the client of cfg.
func (c *tlsCluster) ctl(t *testing.T, cfg security.Config, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, append(append([]string{"ctl", "--scheduler", c.sched}, tlsFlags(cfg)...), args...)...)
}

// waitSnapshots waits until stores 2.. have applied a snapshot of the
// first region: raft and snapshot streams between stores work.
func (c *tlsCluster) waitSnapshots(t *testing.T, from int) {
	t.Helper()
	for i := from; i < len(c.stores); i++ {
		eventually(t, 60*time.Second, fmt.Sprintf("store %d applies a snapshot", i+1), func() bool {
			return strings.Contains(c.stores[i].Output(), `"applied snapshot"`)
		})
	}
}

// TestTLSEveryHop runs a scheduler (embedded etcd on TLS), three stores and
// the tools as processes with mutual TLS and checks every hop: kv and the
// Go SDK to the scheduler and the stores, stores to the scheduler and to
// each other (replicas come by raft and snapshot streams), ctl to the HTTP
// API and to the stores' status servers, bench's pre-split through the
// HTTP API, and a second scheduler member on the first one's etcd through
// --etcd-endpoints https://.
func TestTLSEveryHop(t *testing.T) {
	p := newTestPKI(t)
	c := startTLSCluster(t, p, 3)

	if _, errOut, code := c.kv(t, p.tool, "put", "greeting", "hello"); code != 0 {
		t.Fatalf("kv put over TLS: exit %d: %s", code, errOut)
	}
	if out, errOut, code := c.kv(t, p.tool, "get", "greeting"); code != 0 || out != "hello\n" {
		t.Fatalf("kv get over TLS: %q exit %d: %s", out, code, errOut)
	}
	c.waitSnapshots(t, 1)

	var stores ctlStores
	eventually(t, 30*time.Second, "3 stores Up through ctl over HTTPS", func() bool {
		out, _, code := c.ctl(t, p.tool, "store", "list", "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &stores) == nil && allUp(stores, 3)
	})
	if out, errOut, code := c.ctl(t, p.tool, "store", "health"); code != 0 || strings.Count(out, "true") != 3 {
		t.Fatalf("ctl store health over HTTPS: exit %d:\n%s%s", code, out, errOut)
	}

	// The SDK with a tls.Config.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := client.NewRawClient(ctx, []string{c.sched}, client.WithTLS(loadTLS(t, p.tool).ClientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.Put(ctx, []byte("sdk"), []byte("v")); err != nil {
		t.Fatalf("SDK put over TLS: %v", err)
	}
	if v, err := cli.Get(ctx, []byte("greeting")); err != nil || string(v) != "hello" {
		t.Fatalf("SDK get over TLS: %q, %v", v, err)
	}

	// bench: pre-split through the HTTP API, then a short run.
	out, errOut, code := runCLI(t, append(append([]string{"bench", "--scheduler", c.sched}, tlsFlags(p.tool)...),
		"--workload", "put", "--records", "200", "--regions", "2", "--threads", "2", "--duration", "1s", "--quiet", "-o", "json")...)
	if code != 0 || !strings.Contains(out, `"ops"`) {
		t.Fatalf("bench over TLS: exit %d\n%s\n%s", code, out, errOut)
	}

	// A second member on the first one's etcd, as an external etcd.
	s2 := startProc(t, append([]string{"scheduler", "--name", "scheduler-2", "--addr", "127.0.0.1:0",
		"--etcd-endpoints", "https://" + c.etcd}, p.serverFlags()...)...)
	s2addr := s2.Addr(t)
	eventually(t, 30*time.Second, "ctl member list shows both members", func() bool {
		out, _, code := c.ctl(t, p.tool, "member", "list", "-o", "json")
		return code == 0 && strings.Contains(out, "scheduler-1") && strings.Contains(out, "scheduler-2")
	})
	out, errOut, code = runCLI(t, append(append([]string{"kv", "--scheduler", s2addr}, tlsFlags(p.tool)...), "get", "sdk")...)
	if code != 0 || out != "v\n" {
		t.Fatalf("kv through the second member: %q exit %d: %s", out, code, errOut)
	}
}

// TestTLSRefusals: with TLS on, a plaintext client, a client with a
// certificate of another CA, an expired certificate and a certificate
// whose CN is not allowed are refused on every listening port — store
// gRPC, scheduler gRPC, the scheduler's HTTP API on the same port, the
// store's status server — with an error that says why, on the client's
// side and in the server's log; and nothing they sent was written. Each
// write is first shown to work with a good certificate, so that "nothing
// written" means refused, not malformed.
func TestTLSRefusals(t *testing.T) {
	p := newTestPKI(t)
	// One replica: the store the refused clients try to register must get
	// no replica of the region the test reads from.
	c := startTLSCluster(t, p, 1, "--max-replicas", "1")
	good := loadTLS(t, p.tool)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A good PD client: the cluster ID, and the region and leader of the
	// keys the bad clients will try to write.
	pdc := pdpbgrpc.NewPDClient(dialGRPC(t, c.sched, good))
	var members *pdpb.GetMembersResponse
	var loc *pdpb.GetRegionResponse
	eventually(t, 30*time.Second, "the region of the test keys with a leader", func() bool {
		var err error
		if members, err = pdc.GetMembers(ctx, &pdpb.GetMembersRequest{}); err != nil {
			return false
		}
		h := &pdpb.RequestHeader{ClusterId: members.Header.GetClusterId()}
		loc, err = pdc.GetRegion(ctx, &pdpb.GetRegionRequest{Header: h, RegionKey: []byte("refused-")})
		return err == nil && loc.Leader != nil
	})
	header := &pdpb.RequestHeader{ClusterId: members.Header.GetClusterId()}
	rctx := &kvrpcpb.Context{RegionId: loc.Region.Id, RegionEpoch: loc.Region.RegionEpoch, Peer: loc.Leader}
	rawPut := func(sec *security.TLS, key string) error {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		resp, err := tikvpb.NewTikvClient(dialGRPC(t, c.addrs[0], sec)).RawPut(cctx,
			&kvrpcpb.RawPutRequest{Context: rctx, Key: []byte(key), Value: []byte("x")})
		if err == nil && (resp.RegionError != nil || resp.Error != "") {
			return fmt.Errorf("region error %v, error %q", resp.RegionError, resp.Error)
		}
		return err
	}
	putStore := func(sec *security.TLS, id uint64) error {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		resp, err := pdpbgrpc.NewPDClient(dialGRPC(t, c.sched, sec)).PutStore(cctx,
			&pdpb.PutStoreRequest{Header: header, Store: &metapb.Store{Id: id, Address: "127.0.0.1:1"}})
		if err == nil && resp.Header.GetError() != nil {
			return fmt.Errorf("scheduler error %v", resp.Header.GetError())
		}
		return err
	}
	getStatus := func(sec *security.TLS, path string) error {
		resp, err := sec.HTTPClient(10 * time.Second).Get(sec.Scheme() + "://" + c.statuses[0] + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return nil
	}
	// The controls: each write and read works with a good certificate.
	if err := rawPut(good, "control"); err != nil {
		t.Fatalf("RawPut with a good certificate: %v", err)
	}
	if err := putStore(good, 900); err != nil {
		t.Fatalf("PutStore with a good certificate: %v", err)
	}
	if _, errOut, code := c.ctl(t, p.tool, "store", "delete", "900"); code != 0 {
		t.Fatalf("ctl store delete with a good certificate: %s", errOut)
	}
	for _, path := range []string{"/metrics", "/regions"} {
		if err := getStatus(good, path); err != nil {
			t.Fatalf("status %s with a good certificate: %v", path, err)
		}
	}

	for i, b := range p.bad {
		t.Run(b.name, func(t *testing.T) {
			var sec *security.TLS
			if b.cfg.Enabled() {
				sec = loadTLS(t, b.cfg)
			}
			says := func(where string, err error) {
				t.Helper()
				if err == nil {
					t.Errorf("%s: not refused", where)
				} else if !strings.Contains(err.Error(), b.clientSays) {
					t.Errorf("%s: error %q does not say %q", where, err, b.clientSays)
				}
			}
			cliSays := func(where string, errOut string, code int) {
				t.Helper()
				if code != 2 || !strings.Contains(errOut, b.clientSays) {
					t.Errorf("%s: exit %d, stderr %q; want 2 saying %q", where, code, errOut, b.clientSays)
				}
			}
			// Store gRPC.
			says("store gRPC RawPut", rawPut(sec, "refused-"+b.name))
			// Scheduler gRPC, then the HTTP API on the same port.
			says("scheduler gRPC PutStore", putStore(sec, uint64(901+i)))
			_, errOut, code := c.ctl(t, b.cfg, "config", "set", "max-replicas", "5")
			cliSays("scheduler HTTP API (ctl config set)", errOut, code)
			_, errOut, code = c.ctl(t, b.cfg, "store", "delete", "1")
			cliSays("scheduler HTTP API (ctl store delete)", errOut, code)
			// The store's status server.
			for _, path := range []string{"/metrics", "/regions"} {
				says("store status "+path, getStatus(sec, path))
			}
			// The tools as a user runs them.
			_, errOut, code = c.kv(t, b.cfg, "put", "refused-cli-"+b.name, "x")
			cliSays("kv put", errOut, code)

			// Every server logged why.
			for _, pr := range []*proc{c.schedP, c.stores[0]} {
				if out := pr.Output(); !strings.Contains(out, b.serverSays) {
					t.Errorf("a server's log does not say %q", b.serverSays)
				}
			}
		})
	}

	// Nothing was written.
	for _, b := range p.bad {
		for _, k := range []string{"refused-" + b.name, "refused-cli-" + b.name} {
			if out, errOut, code := c.kv(t, p.tool, "get", k); code != 1 {
				t.Errorf("%s: get exit %d (%q %s), want 1: not found", k, code, out, errOut)
			}
		}
	}
	if out, _, code := c.kv(t, p.tool, "get", "control"); code != 0 || out != "x\n" {
		t.Errorf("the control write reads back as %q (exit %d)", out, code)
	}
	var stores ctlStores
	if out, errOut, code := c.ctl(t, p.tool, "store", "list", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &stores) != nil {
		t.Fatalf("ctl store list: exit %d: %s", code, errOut)
	}
	for _, s := range stores.Stores {
		if s.ID > 900 {
			t.Errorf("store %d was registered by a refused client", s.ID)
		}
		if s.ID == 1 && s.State != "Up" {
			t.Errorf("store 1 is %s after refused deletes", s.State)
		}
	}
	out, errOut, code := c.ctl(t, p.tool, "config", "show", "-o", "json")
	if code != 0 || !strings.Contains(out, `"max-replicas": 1`) {
		t.Errorf("config after refused sets: exit %d, %s%s", code, out, errOut)
	}
}

// dialGRPC is a connection to addr with sec's credentials (plaintext for
// nil), closed when the test ends.
func dialGRPC(t *testing.T, addr string, sec *security.TLS) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, sec.DialOption(), codec.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// replaceFile writes b to path through a rename, as a tool that rotates
// certificates does.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, b)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestTLSRotationUnderLoad rotates every certificate of a running cluster
// to a new CA while a client writes, without restarting anything: first
// the CA file becomes a bundle of the old and the new CA, then every
// certificate and key is replaced by one of the new CA. No write of the
// long-lived client fails, and a new client gets through at every step.
// Afterwards a client that trusts and presents only the new CA gets
// through to the scheduler and the stores (so the servers re-read their
// certificates and their CA), and a new store that trusts only the new
// CA receives a replica from the running ones (so their raft transports
// and scheduler clients re-read theirs).
func TestTLSRotationUnderLoad(t *testing.T) {
	p := newTestPKI(t)
	c := startTLSCluster(t, p, 2)
	now := time.Now()
	ca2, err := security.NewCA("regionkv test CA 2", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Configurations of the new CA alone, for the checks.
	only2 := &testPKI{t: t, dir: filepath.Join(p.dir, "ca2"), ca: ca2}
	if err := os.MkdirAll(only2.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(only2.dir, "ca.pem"), ca2.CertPEM())
	tool2 := only2.issue(ca2, "tool", toolCN, now.Add(24*time.Hour))
	node2 := only2.issue(ca2, "node", nodeCN, now.Add(24*time.Hour))

	if _, errOut, code := c.kv(t, p.tool, "put", "rot-first", "1"); code != 0 {
		t.Fatalf("first put: %s", errOut)
	}
	if _, _, code := c.kv(t, tool2, "get", "rot-first"); code == 0 {
		t.Fatal("a client of the new CA got through before the rotation")
	}

	// The load: one SDK client, long-lived, whose credentials re-read the
	// tool's files, writing until the rotation is done.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := client.NewRawClient(ctx, []string{c.sched}, client.WithCredentials(loadTLS(t, p.tool).TransportCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	stop := make(chan struct{})
	var acked atomic.Int64
	done := make(chan []error, 1)
	go func() {
		var failed []error
		defer func() { done <- failed }()
		for i := 0; i < 10000; i++ { // within the final scan's limit
			select {
			case <-stop:
				return
			default:
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := cli.Put(wctx, []byte(fmt.Sprintf("rot-%06d", i)), []byte("v"))
			wcancel()
			if err != nil {
				failed = append(failed, err)
				continue
			}
			acked.Add(1)
		}
	}()
	// progress waits until the load has written some more, so that it runs
	// across each step of the rotation, and checks that a new client (new
	// connections, new handshakes) gets through at that step too, unless
	// the tool's own files are half rotated (a new process cannot start on
	// a mismatched pair; the running client keeps its last good one).
	steps := 0
	progress := func(what string, fresh bool) {
		t.Helper()
		n := acked.Load()
		eventually(t, 60*time.Second, "writes go on "+what, func() bool { return acked.Load() >= n+25 })
		if !fresh {
			return
		}
		steps++
		if _, errOut, code := c.kv(t, p.tool, "put", fmt.Sprintf("step-%d", steps), what); code != 0 {
			t.Fatalf("a new client %s: exit %d: %s", what, code, errOut)
		}
	}

	progress("before the rotation", true)
	// Step 1: trust both CAs.
	bundle := append(append([]byte{}, p.ca.CertPEM()...), ca2.CertPEM()...)
	replaceFile(t, p.node.CAPath, bundle) // the tool shares the file
	progress("with both CAs trusted", true)
	// Step 2: every certificate and key from the new CA, the certificate
	// first: the processes keep the old pair until the new one is whole.
	for _, kc := range []struct {
		cfg security.Config
		cn  string
	}{{p.node, nodeCN}, {p.tool, toolCN}} {
		cert, key, err := ca2.Issue(kc.cn, []string{"127.0.0.1", "localhost"}, now.Add(-time.Hour), now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, kc.cfg.CertPath, cert)
		progress("with "+kc.cn+"'s certificate and key mismatched", kc.cn != toolCN)
		replaceFile(t, kc.cfg.KeyPath, key)
		progress("after "+kc.cn+"'s rotation", true)
	}

	// The servers present and accept the new CA's certificates.
	if out, errOut, code := c.kv(t, tool2, "get", "rot-first"); code != 0 || out != "1\n" {
		t.Fatalf("a client of the new CA only, after the rotation: %q exit %d: %s", out, code, errOut)
	}
	// A store of the new CA only gets a replica from the running ones.
	c.startStore(t, 2, append(tlsFlags(node2), "--cert-allowed-cn", allowedCN))
	c.waitSnapshots(t, 2)

	close(stop)
	failed := <-done
	n := acked.Load()
	t.Logf("rotation under load: %d writes acknowledged, %d failed", n, len(failed))
	for i, err := range failed {
		if i < 10 {
			t.Errorf("write failed during the rotation: %v", err)
		}
	}
	// Every acknowledged write reads back, through the new CA only.
	out, errOut, code := c.kv(t, tool2, "scan", "rot-0", "rot-999999", "--limit", "10240")
	if code != 0 || int64(strings.Count(out, "\n")) != n {
		t.Errorf("scan after the rotation: %d keys (exit %d: %s), want %d", strings.Count(out, "\n"), code, errOut, n)
	}
	for i := 1; i <= steps; i++ {
		if _, errOut, code := c.kv(t, tool2, "get", fmt.Sprintf("step-%d", i)); code != 0 {
			t.Errorf("step-%d does not read back: exit %d: %s", i, code, errOut)
		}
	}
	// The scheduler and the store leading the region made new
	// connections since (a follower may have had no reason to).
	reloaded := func(pr *proc) bool { return strings.Contains(pr.Output(), "TLS files reloaded") }
	if !reloaded(c.schedP) || !(reloaded(c.stores[0]) || reloaded(c.stores[1])) {
		t.Errorf("reloads logged: scheduler %v, store 1 %v, store 2 %v",
			reloaded(c.schedP), reloaded(c.stores[0]), reloaded(c.stores[1]))
	}
}

var playgroundTLSFlags = regexp.MustCompile(`"playground started"\] .*\[tls-flags="(--cacert \S+ --cert \S+ --key \S+)"\]`)

// TestPlaygroundTLS: `playground --tls` makes a throwaway CA and
// certificates in its data dir's tls/, serves every port with mutual TLS,
// and prints (and logs) the flags with which kv and ctl get through;
// without them
// they are refused with an error that says TLS is required.
func TestPlaygroundTLS(t *testing.T) {
	p, sched, dir := startPlayground(t, "--tls", "--data-dir", t.TempDir())
	m := p.WaitLine(t, playgroundTLSFlags, 10*time.Second)
	flags := strings.Fields(m[1])
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "tls", f)); err != nil {
			t.Errorf("the playground's tls/ lacks %s: %v", f, err)
		}
	}
	if flags[1] != filepath.Join(dir, "tls", "ca.pem") {
		t.Errorf("printed --cacert %s, want the data dir's tls/ca.pem", flags[1])
	}
	kv := func(tls bool, args ...string) (string, string, int) {
		a := []string{"kv", "--scheduler", sched, "--timeout", "20s"}
		if tls {
			a = append(a, flags...)
		}
		return runCLI(t, append(a, args...)...)
	}
	if _, errOut, code := kv(true, "put", "pg-tls", "yes"); code != 0 {
		t.Fatalf("kv put with the printed flags: exit %d: %s", code, errOut)
	}
	if out, errOut, code := kv(true, "get", "pg-tls"); code != 0 || out != "yes\n" {
		t.Fatalf("kv get with the printed flags: %q exit %d: %s", out, code, errOut)
	}
	eventually(t, 60*time.Second, "ctl with the printed flags shows 3 stores Up", func() bool {
		out, _, code := runCLI(t, append(append([]string{"ctl", "--scheduler", sched}, flags...), "store", "list", "-o", "json")...)
		var stores ctlStores
		return code == 0 && json.Unmarshal([]byte(out), &stores) == nil && allUp(stores, 3)
	})
	if _, errOut, code := kv(false, "get", "pg-tls"); code != 2 || !strings.Contains(errOut, "requires TLS") {
		t.Errorf("kv without the flags: exit %d: %s; want 2 saying TLS is required", code, errOut)
	}
	if _, errOut, code := runCLI(t, "ctl", "--scheduler", sched, "store", "list"); code != 2 || !strings.Contains(errOut, "requires TLS") {
		t.Errorf("ctl without the flags: exit %d: %s; want 2 saying TLS is required", code, errOut)
	}
}
