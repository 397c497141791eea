package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Sentinel errors.
var (
	// ErrLoad: the CA, certificate or key cannot be read or do not fit.
	ErrLoad = errors.New("security: cannot load TLS files")
	// ErrCNNotAllowed: a peer's certificate names a CN outside
	// cert-allowed-cn.
	ErrCNNotAllowed = errors.New("security: certificate CN not allowed")
)

// TLS is one process's TLS material, re-read when its files change. A nil
// *TLS means plaintext: its methods then return the plaintext variants,
// so callers need no branches.
type TLS struct {
	cfg    Config
	logger *zap.Logger

	cur atomic.Pointer[material]

	mu         sync.Mutex // serializes reloads
	failed     [3]stamp   // stamps of the last set that failed to load
	lastFailed error
}

// material is one consistent load of the three files.
type material struct {
	stamps [3]stamp
	pool   *x509.CertPool
	cert   *tls.Certificate
}

// stamp identifies a version of a file: a rewrite in place changes its
// modification time or size, a rename its inode.
type stamp struct {
	mod  int64
	size int64
	ino  uint64
}

// Load reads cfg's files. It returns nil, nil when TLS is off, and an
// error wrapping ErrLoad or ErrInvalid when they cannot be used. logger
// (may be nil) hears about later reloads.
func Load(cfg Config, logger *zap.Logger) (*TLS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, nil
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	t := &TLS{cfg: cfg, logger: logger}
	stamps, err := t.stamps()
	if err != nil {
		return nil, err
	}
	m, err := t.load(stamps)
	if err != nil {
		return nil, err
	}
	t.cur.Store(m)
	return t, nil
}

// Config is the configuration t was loaded from.
func (t *TLS) Config() Config {
	if t == nil {
		return Config{}
	}
	return t.cfg
}

func (t *TLS) paths() [3]string { return [3]string{t.cfg.CAPath, t.cfg.CertPath, t.cfg.KeyPath} }

func (t *TLS) stamps() ([3]stamp, error) {
	var out [3]stamp
	for i, p := range t.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrLoad, err)
		}
		out[i] = stamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			out[i].ino = st.Ino
		}
	}
	return out, nil
}

func (t *TLS) load(stamps [3]stamp) (*material, error) {
	caPEM, err := os.ReadFile(t.cfg.CAPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrLoad, t.cfg.CAPath)
	}
	cert, err := tls.LoadX509KeyPair(t.cfg.CertPath, t.cfg.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %s and %s: %v", ErrLoad, t.cfg.CertPath, t.cfg.KeyPath, err)
	}
	return &material{stamps: stamps, pool: pool, cert: &cert}, nil
}

// current returns the material, loading the files again first if one of
// them changed. A set that fails to load (a rotation half written, say)
// leaves the last good one in use and is tried again at the next
// handshake; it is logged once.
func (t *TLS) current() *material {
	m := t.cur.Load()
	stamps, err := t.stamps()
	if err != nil || stamps == m.stamps {
		return m
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m = t.cur.Load(); stamps == m.stamps {
		return m
	}
	next, err := t.load(stamps)
	if err != nil {
		if stamps != t.failed || t.lastFailed == nil {
			t.logger.Warn("TLS files changed but cannot be loaded; still using the previous ones", zap.Error(err))
		}
		t.failed, t.lastFailed = stamps, err
		return m
	}
	t.lastFailed = nil
	t.cur.Store(next)
	t.logger.Info("TLS files reloaded", zap.String("ca-path", t.cfg.CAPath), zap.String("cert-path", t.cfg.CertPath))
	return next
}

// checkCN refuses a peer whose certificate's CN is not allowed.
func (t *TLS) checkCN(cs tls.ConnectionState) error {
	if len(t.cfg.CertAllowedCN) == 0 {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the peer presented no certificate", ErrCNNotAllowed)
	}
	cn := cs.PeerCertificates[0].Subject.CommonName
	if slices.Contains(t.cfg.CertAllowedCN, cn) {
		return nil
	}
	return fmt.Errorf("%w: the peer's certificate has CN %q, and cert-allowed-cn is %q", ErrCNNotAllowed, cn, t.cfg.CertAllowedCN)
}

// serverConfig is the server side: it presents the current certificate,
// requires a client certificate signed by the current CA, checks its CN
// if checkCN, and offers nextProtos in ALPN. Session tickets are off, so
// that every connection is verified against the CA and the certificates
// of the moment it is made.
func (t *TLS) serverConfig(checkCN bool, nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := t.current()
			c := &tls.Config{
				MinVersion:             tls.VersionTLS12,
				Certificates:           []tls.Certificate{*m.cert},
				ClientCAs:              m.pool,
				ClientAuth:             tls.RequireAndVerifyClientCert,
				NextProtos:             nextProtos,
				SessionTicketsDisabled: true,
			}
			if checkCN {
				c.VerifyConnection = t.checkCN
			}
			return c, nil
		},
	}
}

// ClientConfig is the client side as of now: it trusts the current CA
// and presents the current certificate at each handshake. Long-lived
// clients that must follow a CA change dial through
// TransportCredentials or HTTPClient, which take a fresh one per
// connection. nil for a nil t.
func (t *TLS) ClientConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    t.current().pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return t.current().cert, nil
		},
	}
}

// TransportCredentials are gRPC client credentials that verify the server
// and present this process's certificate with the files of the moment of
// each handshake; plaintext for a nil t.
func (t *TLS) TransportCredentials() credentials.TransportCredentials {
	if t == nil {
		return insecure.NewCredentials()
	}
	return &reloadingCreds{t: t}
}

// DialOption is grpc.WithTransportCredentials(t.TransportCredentials()).
func (t *TLS) DialOption() grpc.DialOption {
	return grpc.WithTransportCredentials(t.TransportCredentials())
}

// Scheme is "https" with TLS and "http" without.
func (t *TLS) Scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}

// HTTPClient returns an HTTP client with timeout that speaks HTTPS with
// this process's certificate, taking the files of the moment of each
// connection; a plain client for a nil t.
func (t *TLS) HTTPClient(timeout time.Duration) *http.Client {
	if t == nil {
		return &http.Client{Timeout: timeout}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := t.ClientConfig()
			cfg.ServerName = host
			c := tls.Client(raw, cfg)
			if err := c.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: tr}
}

// reloadingCreds are gRPC credentials built afresh from t for every
// handshake.
type reloadingCreds struct {
	t          *TLS
	serverName string
}

func (c *reloadingCreds) tls() credentials.TransportCredentials {
	cfg := c.t.ClientConfig()
	cfg.ServerName = c.serverName
	return credentials.NewTLS(cfg)
}

func (c *reloadingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.tls().ClientHandshake(ctx, authority, raw)
}

func (c *reloadingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.t.serverConfig(true, "h2")).ServerHandshake(raw)
}

func (c *reloadingCreds) Info() credentials.ProtocolInfo { return c.tls().Info() }

func (c *reloadingCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

func (c *reloadingCreds) OverrideServerName(name string) error { //nolint:staticcheck // part of the interface
	c.serverName = name
	return nil
}
