package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"

	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/scheduler/config"
)

// etcdStartTimeout bounds how long an embedded etcd may take to join its
// cluster (members of a new cluster wait for each other).
const etcdStartTimeout = 60 * time.Second

// ErrEtcdStart wraps failures to start or reach etcd.
var ErrEtcdStart = errors.New("server: etcd")

// etcdBackend is the etcd this member uses: embedded or external.
type etcdBackend struct {
	cli      *clientv3.Client
	embedded *embed.Etcd // nil with external etcd
	memberID uint64
	peerURL  string
	// listening are the embedded etcd's client and peer addresses.
	listening []string
}

func (b *etcdBackend) close() {
	if b.cli != nil {
		_ = b.cli.Close()
	}
	if b.embedded != nil {
		b.embedded.Close()
	}
}

// derivedAddr returns explicit if set, else addr's host with port+delta,
// or port 0 when addr's port is 0.
func derivedAddr(explicit, addr string, delta int) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	if p != 0 {
		p += delta
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// warnLogger is the logger of the embedded etcd and its client: warnings
// and errors only, without the messages they log on every start and clean
// stop.
func warnLogger(l *zap.Logger, name string) *zap.Logger {
	return l.Named(name).WithOptions(zap.IncreaseLevel(zapcore.WarnLevel),
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return quietCore{c} }))
}

// benignEtcdLogs are what etcd logs on every start or clean stop of an
// embedded member, none of which an operator can act on: a message, and a
// part of its "error" field ("" for any).
var benignEtcdLogs = []struct{ msg, err string }{
	// We serve etcd's gRPC API only, to our own client.
	{"Running http and grpc server on single port. This is not recommended for production.", ""},
	// Authentication is off.
	{"simple token is not cryptographically signed", ""},
	// Close stops the listeners under the serving goroutines.
	{"setting up serving from embedded etcd failed.", "mux: server closed"},
	{"setting up serving from embedded etcd failed.", "http: Server closed"},
	{"setting up serving from embedded etcd failed.", "use of closed network connection"},
	{"stopping insecure grpc server due to error", "use of closed network connection"},
	{"stopped insecure grpc server due to error", "use of closed network connection"},
	{"stopping secure grpc server due to error", "use of closed network connection"},
	{"stopped secure grpc server due to error", "use of closed network connection"},
	// A call we canceled (the election session's lease revoke at stop).
	{"retrying of unary invoker failed", "code = Canceled"},
}

// quietCore drops benignEtcdLogs.
type quietCore struct{ zapcore.Core }

func (c quietCore) With(fields []zapcore.Field) zapcore.Core { return quietCore{c.Core.With(fields)} }

func (c quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	for _, b := range benignEtcdLogs {
		if e.Message == b.msg {
			// Decide in Write, which sees the fields.
			if c.Enabled(e.Level) {
				return ce.AddCore(e, c)
			}
			return ce
		}
	}
	return c.Core.Check(e, ce)
}

func (c quietCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	for _, b := range benignEtcdLogs {
		if e.Message == b.msg && (b.err == "" || strings.Contains(errorField(fields), b.err)) {
			return nil
		}
	}
	return c.Core.Write(e, fields)
}

// errorField is the text of the "error" field, if any.
func errorField(fields []zapcore.Field) string {
	for _, f := range fields {
		if f.Key != "error" {
			continue
		}
		if err, ok := f.Interface.(error); ok {
			return err.Error()
		}
		return f.String
	}
	return ""
}

// etcdTLS is the embedded etcd's TLS, on client and peer URLs alike:
// certificates of the cluster's CA on both sides, with the member's
// cert-allowed-cn. etcd reads the certificate and key again at every
// handshake, so they rotate like the member's own; its CA it reads at
// start.
func etcdTLS(c security.Config, logger *zap.Logger) transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       c.CertPath,
		KeyFile:        c.KeyPath,
		TrustedCAFile:  c.CAPath,
		ClientCertAuth: true,
		AllowedCNs:     c.CertAllowedCN,
		Logger:         logger,
	}
}

// startEtcd starts the embedded etcd (or connects to the external one) and
// returns a connected client. With sec, the embedded etcd serves TLS on
// its client and peer URLs, and the client speaks TLS to it (or to an
// external etcd with https:// endpoints).
func startEtcd(cfg *config.Config, sec *security.TLS, logger *zap.Logger) (*etcdBackend, error) {
	b := &etcdBackend{}
	endpoints := cfg.EtcdEndpoints
	useTLS := len(endpoints) > 0 && strings.HasPrefix(endpoints[0], "https://")
	if len(endpoints) == 0 {
		clientAddr, err := derivedAddr(cfg.EtcdClientAddr, cfg.Addr, 2)
		if err != nil {
			return nil, fmt.Errorf("%w: client address: %v", ErrEtcdStart, err)
		}
		peerAddr, err := derivedAddr(cfg.PeerAddr, cfg.Addr, 1)
		if err != nil {
			return nil, fmt.Errorf("%w: peer address: %v", ErrEtcdStart, err)
		}
		ec := embed.NewConfig()
		ec.Name = cfg.Name
		ec.Dir = filepath.Join(cfg.DataDir, "etcd")
		curl := url.URL{Scheme: cfg.PeerScheme(), Host: clientAddr}
		purl := url.URL{Scheme: cfg.PeerScheme(), Host: peerAddr}
		if sec != nil {
			useTLS = true
			ec.ClientTLSInfo = etcdTLS(cfg.Security, warnLogger(logger, "etcd-tls"))
			ec.PeerTLSInfo = ec.ClientTLSInfo
		}
		ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
		ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
		ec.InitialCluster = cfg.InitialCluster
		if ec.InitialCluster == "" {
			ec.InitialCluster = cfg.Name + "=" + purl.String()
		}
		ec.InitialClusterToken = "regionkv-scheduler"
		ec.AutoCompactionMode = embed.CompactorModePeriodic
		ec.AutoCompactionRetention = "1h"
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(warnLogger(logger, "etcd"))
		e, err := embed.StartEtcd(ec)
		if err != nil {
			return nil, fmt.Errorf("%w: start embedded: %v", ErrEtcdStart, err)
		}
		b.embedded = e
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			b.close()
			return nil, fmt.Errorf("%w: embedded: %v", ErrEtcdStart, err)
		case <-time.After(etcdStartTimeout):
			b.close()
			return nil, fmt.Errorf("%w: embedded etcd not ready after %s", ErrEtcdStart, etcdStartTimeout)
		}
		b.memberID = uint64(e.Server.MemberID())
		b.peerURL = purl.String()
		endpoints = []string{curl.Scheme + "://" + e.Clients[0].Addr().String()}
		for _, l := range e.Clients {
			b.listening = append(b.listening, l.Addr().String())
		}
		for _, l := range e.Peers {
			b.listening = append(b.listening, l.Addr().String())
		}
	} else {
		h := fnv.New64a()
		h.Write([]byte(cfg.Name))
		b.memberID = h.Sum64()
	}
	ccfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      warnLogger(logger, "etcd-client"),
	}
	if useTLS {
		// Credentials that re-read the files at every handshake; given as
		// a dial option, they win over the client's own.
		ccfg.DialOptions = []grpc.DialOption{sec.DialOption()}
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("%w: client: %v", ErrEtcdStart, err)
	}
	b.cli = cli
	return b, nil
}
