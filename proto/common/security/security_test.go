package security

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// pki is a CA and certificates it issued, written to files.
type pki struct {
	t   testing.TB
	dir string
	ca  *CA
}

func newPKI(t testing.TB, name string) *pki {
	t.Helper()
	ca, err := NewCA(name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "ca.pem"), ca.CertPEM())
	return &pki{t: t, dir: dir, ca: ca}
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a certificate for cn valid until notAfter and returns a
// Config using it with this CA.
func (p *pki) issue(cn string, notAfter time.Time) Config {
	p.t.Helper()
	cert, key, err := p.ca.Issue(cn, []string{"127.0.0.1", "localhost"}, time.Now().Add(-2*time.Hour), notAfter)
	if err != nil {
		p.t.Fatal(err)
	}
	c := Config{CAPath: filepath.Join(p.dir, "ca.pem"), CertPath: filepath.Join(p.dir, cn+".pem"), KeyPath: filepath.Join(p.dir, cn+"-key.pem")}
	write(p.t, c.CertPath, cert)
	write(p.t, c.KeyPath, key)
	return c
}

func mustLoad(t testing.TB, c Config) *TLS {
	t.Helper()
	s, err := Load(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{CAPath: "a", CertPath: "b", KeyPath: "c"}, ""},
		{Config{CAPath: "a", CertPath: "b", KeyPath: "c", CertAllowedCN: []string{"x"}}, ""},
		{Config{CAPath: "a"}, "cert-path and key-path not set"},
		{Config{CertPath: "b", KeyPath: "c"}, "ca-path not set"},
		{Config{CertAllowedCN: []string{"x"}}, "cert-allowed-cn needs"},
		{Config{CAPath: "a", CertPath: "b", KeyPath: "c", CertAllowedCN: []string{" "}}, "empty name"},
	} {
		err := tc.c.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.c, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalid saying %q", tc.c, err, tc.want)
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	p := newPKI(t, "ca")
	good := p.issue("node", time.Now().Add(time.Hour))
	other := newPKI(t, "other").issue("node", time.Now().Add(time.Hour))
	for name, c := range map[string]Config{
		"missing CA":        {CAPath: filepath.Join(p.dir, "nope.pem"), CertPath: good.CertPath, KeyPath: good.KeyPath},
		"CA not PEM":        {CAPath: good.KeyPath + ".x", CertPath: good.CertPath, KeyPath: good.KeyPath},
		"key of other pair": {CAPath: good.CAPath, CertPath: good.CertPath, KeyPath: other.KeyPath},
	} {
		if name == "CA not PEM" {
			write(t, c.CAPath, []byte("not a certificate"))
		}
		if _, err := Load(c, nil); !errors.Is(err, ErrLoad) {
			t.Errorf("%s: %v, want ErrLoad", name, err)
		}
	}
	if s, err := Load(Config{}, nil); s != nil || err != nil {
		t.Errorf("Load of no config: %v, %v; want nil, nil", s, err)
	}
}

// server is a gRPC health service and an HTTP handler behind t.Listen on
// one port each, with the listener's log observed.
type server struct {
	grpcAddr, httpAddr string
	logs               *observer.ObservedLogs
}

func startServer(t testing.TB, c Config) *server {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	lg := zap.New(core)
	s, err := Load(c, lg)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer())
	go func() { _ = g.Serve(s.Listen(gl, lg, "h2")) }()
	t.Cleanup(g.Stop)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	})}
	go func() { _ = h.Serve(s.Listen(hl, lg, "h2", "http/1.1")) }()
	t.Cleanup(func() { _ = h.Close() })
	return &server{grpcAddr: gl.Addr().String(), httpAddr: hl.Addr().String(), logs: logs}
}

// call makes one gRPC and one HTTPS call as c and returns their errors
// and the HTTP body.
func (s *server) call(t *testing.T, c *TLS) (grpcErr, httpErr error, body string) {
	t.Helper()
	cc, err := grpc.NewClient(s.grpcAddr, c.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, grpcErr = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
	hc := c.HTTPClient(10 * time.Second)
	resp, httpErr := hc.Get(c.Scheme() + "://" + s.httpAddr + "/")
	if httpErr == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if resp.StatusCode != http.StatusOK {
			httpErr = errors.New(resp.Status + ": " + body)
		}
	}
	return grpcErr, httpErr, body
}

// loggedReason waits for the server's log to name why it refused.
func (s *server) loggedReason(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range s.logs.All() {
			line := e.Message
			for _, f := range e.Context {
				line += " " + f.String
				if f.Interface != nil {
					if err, ok := f.Interface.(error); ok {
						line += " " + err.Error()
					}
				}
			}
			if strings.Contains(line, want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling a log another goroutine writes
	}
	t.Errorf("the server never logged %q; it logged %v", want, s.logs.All())
}

// TestMutualTLSRefusals: a client with a certificate of the cluster's CA
// and an allowed CN gets through on gRPC and HTTPS; a plaintext client, a
// client with another CA's certificate, an expired certificate or a CN
// that is not allowed are refused, each with an error that says why on
// the client's side and a log line that says why on the server's.
func TestMutualTLSRefusals(t *testing.T) {
	p := newPKI(t, "cluster")
	srvCfg := p.issue("node", time.Now().Add(time.Hour))
	srvCfg.CertAllowedCN = []string{"node", "tool"}
	srv := startServer(t, srvCfg)

	good := mustLoad(t, p.issue("tool", time.Now().Add(time.Hour)))
	// A client that trusts the cluster's CA (it is no secret) but whose
	// certificate another CA signed.
	foreign := newPKI(t, "other").issue("tool", time.Now().Add(time.Hour))
	foreign.CAPath = good.Config().CAPath
	if gerr, herr, body := srv.call(t, good); gerr != nil || herr != nil || body != "hello tool" {
		t.Fatalf("allowed client: grpc %v, http %v, body %q", gerr, herr, body)
	}

	for _, tc := range []struct {
		name       string
		client     *TLS
		clientSays string // in both the gRPC and the HTTP error
		serverSays string // in the server's log
	}{
		{"plaintext", nil, "requires TLS", "plaintext connection"},
		{"other CA", mustLoad(t, foreign), "unknown certificate authority", "unknown authority"},
		{"expired", mustLoad(t, p.issue("old", time.Now().Add(-time.Minute))), "expired certificate", "expired"},
		{"CN not allowed", mustLoad(t, p.issue("intruder", time.Now().Add(time.Hour))),
			`does not admit certificate CN "intruder"`, `CN "intruder"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gerr, herr, body := srv.call(t, tc.client)
			if gerr == nil || herr == nil {
				t.Fatalf("not refused: grpc %v, http %v (body %q)", gerr, herr, body)
			}
			for _, err := range []error{gerr, herr} {
				if !strings.Contains(err.Error(), tc.clientSays) {
					t.Errorf("client error %q does not say %q", err, tc.clientSays)
				}
			}
			if want := map[string]codes.Code{"plaintext": codes.Unauthenticated, "CN not allowed": codes.PermissionDenied}[tc.name]; want != codes.OK && status.Code(gerr) != want {
				t.Errorf("gRPC code %v, want %v", status.Code(gerr), want)
			}
			srv.loggedReason(t, tc.serverSays)
		})
	}
}

// TestClientRefusesServerOfOtherCA: a client verifies the server too.
func TestClientRefusesServerOfOtherCA(t *testing.T) {
	srv := startServer(t, newPKI(t, "rogue").issue("node", time.Now().Add(time.Hour)))
	gerr, herr, _ := srv.call(t, mustLoad(t, newPKI(t, "cluster").issue("tool", time.Now().Add(time.Hour))))
	for _, err := range []error{gerr, herr} {
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("client of a server of another CA: %v", err)
		}
	}
}

// TestReloadOnChange: new certificates written over the files, even of a
// new CA, are used by the next connection on both sides without a
// restart; a half-written rotation keeps the last good set.
func TestReloadOnChange(t *testing.T) {
	p := newPKI(t, "cluster")
	srvCfg := p.issue("node", time.Now().Add(time.Hour))
	srv := startServer(t, srvCfg)
	cliCfg := p.issue("tool", time.Now().Add(time.Hour))
	cli := mustLoad(t, cliCfg)
	if gerr, herr, _ := srv.call(t, cli); gerr != nil || herr != nil {
		t.Fatalf("before rotation: %v, %v", gerr, herr)
	}

	// A new CA replaces the old one on both sides, in place.
	q := newPKI(t, "cluster-2")
	rotate := func(dst Config, cn string) {
		src := q.issue(cn, time.Now().Add(time.Hour))
		for from, to := range map[string]string{src.CAPath: dst.CAPath, src.CertPath: dst.CertPath, src.KeyPath: dst.KeyPath} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			write(t, to, b)
		}
	}
	// Half a rotation: the server's new certificate without its key. The
	// server keeps its old pair (and logs why), so it still answers a
	// client of the old CA.
	half := q.issue("node", time.Now().Add(time.Hour))
	b, _ := os.ReadFile(half.CertPath)
	write(t, srvCfg.CertPath, b)
	if gerr, herr, _ := srv.call(t, cli); gerr != nil || herr != nil {
		t.Fatalf("half-written rotation: %v, %v", gerr, herr)
	}
	srv.loggedReason(t, "cannot be loaded")

	rotate(srvCfg, "node")
	// The client still trusts only the old CA: refused.
	if gerr, _, _ := srv.call(t, cli); gerr == nil {
		t.Fatal("a client of the old CA got through a server of the new one")
	}
	rotate(cliCfg, "tool")
	if gerr, herr, body := srv.call(t, cli); gerr != nil || herr != nil || body != "hello tool" {
		t.Fatalf("after rotation: grpc %v, http %v, body %q", gerr, herr, body)
	}
}

// TestListenerCloseWhileHandshaking: closing the listener ends the
// handshakes in progress at once.
func TestListenerCloseWhileHandshaking(t *testing.T) {
	p := newPKI(t, "cluster")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := mustLoad(t, p.issue("node", time.Now().Add(time.Hour))).Listen(inner, nil, "h2")
	// Silent clients: connected, never a byte.
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var acceptErr error
	go func() { defer wg.Done(); _, acceptErr = l.Accept() }()
	time.Sleep(50 * time.Millisecond) // let the handshakes start; the test holds either way
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !errors.Is(acceptErr, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", acceptErr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with silent clients", d)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a silent client's connection is still open after Close")
		}
		_ = c.Close()
	}
}

func TestGenerateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	g, err := GenerateDir(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, g.Server)
	if gerr, herr, body := srv.call(t, mustLoad(t, g.Client)); gerr != nil || herr != nil || body != "hello "+ClientCN {
		t.Fatalf("generated client: %v, %v, %q", gerr, herr, body)
	}
	before, _ := os.ReadFile(g.Server.CertPath)
	// Run again: kept.
	if _, err := GenerateDir(dir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(g.Server.CertPath); string(after) != string(before) {
		t.Error("a valid set was not kept")
	}
	// Another host: made anew.
	if _, err := GenerateDir(dir, []string{"127.0.0.1", "10.1.2.3"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(g.Server.CertPath); string(after) == string(before) {
		t.Error("a set without the new host was kept")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:2379": true, "[::1]:1": true, "localhost:80": true, "127.9.9.9:1": true,
		":2379": false, "0.0.0.0:1": false, "10.0.0.1:1": false, "example.com:1": false, "[::]:1": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func TestWarnIfExposed(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	WarnIfExposed(zap.New(core), Config{}, "store", "127.0.0.1:1", "0.0.0.0:2")
	WarnIfExposed(zap.New(core), Config{CAPath: "a", CertPath: "b", KeyPath: "c"}, "store", "0.0.0.0:3")
	if logs.Len() != 1 || logs.All()[0].ContextMap()["addr"] != "0.0.0.0:2" {
		t.Fatalf("warnings: %v; want one, for 0.0.0.0:2", logs.All())
	}
}
