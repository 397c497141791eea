package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/common/datadir"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/scheduler/client"
	"github.com/regionkv/regionkv/scheduler/config"
)

// TestStartLocksDataDir: a second member on a held data dir fails at once
// with ErrLocked, before touching etcd; Close releases the dir.
func TestStartLocksDataDir(t *testing.T) {
	cfg := testConfig(t, "s1")
	s := startServer(t, cfg)
	start := time.Now()
	_, err := Start(cfg, testLogger(t))
	if !errors.Is(err, datadir.ErrLocked) {
		t.Fatalf("second Start on the dir: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the refusal took %v", d)
	}
	s.Close()
	s2, err := Start(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	s2.Close()
}

// TestStartRefusesNewerFormat: a data dir of a newer format is refused,
// and etcd never starts in it.
func TestStartRefusesNewerFormat(t *testing.T) {
	cfg := testConfig(t, "s1")
	if err := os.WriteFile(filepath.Join(cfg.DataDir, datadir.FormatFileName), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(cfg, testLogger(t)); !errors.Is(err, datadir.ErrNewerFormat) {
		t.Fatalf("Start on a newer format: %v, want ErrNewerFormat", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "etcd")); !os.IsNotExist(err) {
		t.Errorf("etcd's dir exists after the refusal: %v", err)
	}
}

// tlsFiles writes a CA and a certificate for loopback named cn; the
// configuration allows CNs node and tool.
func tlsFiles(t *testing.T, ca *security.CA, dir, cn string) security.Config {
	t.Helper()
	cert, key, err := ca.Issue(cn, []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := security.Config{CAPath: filepath.Join(dir, "ca.pem"), CertPath: filepath.Join(dir, cn+".pem"),
		KeyPath: filepath.Join(dir, cn+"-key.pem"), CertAllowedCN: []string{"node", "tool"}}
	for path, b := range map[string][]byte{c.CAPath: ca.CertPEM(), c.CertPath: cert, c.KeyPath: key} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestTLSMembers: three members whose embedded etcd speaks TLS between
// peers and to its clients elect a leader; a client with a certificate of
// the CA reaches it, one in plaintext is refused at once (not after its
// deadline), and a member whose peer URLs say http:// is refused by the
// configuration check.
func TestTLSMembers(t *testing.T) {
	dir := t.TempDir()
	ca, err := security.NewCA("test CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	node, tool := tlsFiles(t, ca, dir, "node"), tlsFiles(t, ca, dir, "tool")
	servers, cfgs := startMembers(t, 3, node)
	bad := cfgs[0]
	bad.InitialCluster = strings.ReplaceAll(bad.InitialCluster, "https://", "http://")
	if err := bad.Validate(); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "must be https://") {
		t.Errorf("http:// peers with TLS on: %v", err)
	}
	leader := waitLeader(t, servers...)

	sec, err := security.Load(tool, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, []string{servers[0].Addr()}, client.Options{Logger: testLogger(t), Credentials: sec.TransportCredentials()})
	if err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	defer c.Close()
	m, err := c.GetMembers(ctx)
	if err != nil || m.Leader.GetName() != leader.Name() || len(m.Members) != 3 {
		t.Fatalf("GetMembers over TLS: %v, %v", m, err)
	}
	for _, mb := range m.Members {
		if len(mb.ClientUrls) != 1 || !strings.HasPrefix(mb.ClientUrls[0], "https://") ||
			len(mb.PeerUrls) != 1 || !strings.HasPrefix(mb.PeerUrls[0], "https://") {
			t.Errorf("member %s advertises %v and %v, want https:// URLs", mb.Name, mb.ClientUrls, mb.PeerUrls)
		}
	}

	start := time.Now()
	_, err = client.New(ctx, []string{servers[0].Addr()}, client.Options{Logger: testLogger(t)})
	// The message is what the user reads: it must say why.
	if err == nil || !strings.Contains(err.Error(), security.PlaintextRefusal) {
		t.Errorf("plaintext client: %v, want the plaintext refusal", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the plaintext client was refused after %v, want at once", d)
	}
}
